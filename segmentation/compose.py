"""Compose the sticker (512 x 512 RGBA, outlined) and encode it as PNG / WEBP.

:func:`compose_sticker` crops the photo and the object's probability around the object,
scales both once so that the crop's longer side is exactly the sticker side, makes the soft
alpha and edge colours there (:mod:`segmentation.alpha`), centres the result on a transparent
square canvas and draws the outline style (:mod:`segmentation.outline`, at sticker resolution
so that its width is the same on every sticker). The crop keeps a margin of
:func:`sticker_margin` output pixels around the object, so neither the object nor its
outline or shadow ever touches the canvas edge.

:func:`encode_png` and :func:`encode_webp` produce files that Telegram accepts as static
stickers (at most 512 KB). Everything here is pure: arrays in, bytes out, no I/O.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, features

from segmentation import alpha
from segmentation.errors import StickerError
from segmentation.limits import MAX_STICKER_PNG_BYTES, STICKER_SIDE
from segmentation.options import OutlineStyle
from segmentation.outline import apply_outline, outline_margin

logger = logging.getLogger(__name__)

# The photo is resampled with Lanczos (sharpest); the probability bilinearly
# (segmentation.alpha.PROB_RESAMPLING): Lanczos' negative lobes would overshoot and push the
# object's edge past its box, eating the margin.
PHOTO_RESAMPLING: Final = Image.Resampling.LANCZOS
# A window more than this many times the sticker's size is first box-reduced by an integer
# factor (Pillow's reducing_gap), then Lanczos-resampled from at most twice the sticker's
# size: a 16 MP photo's window in a fraction of the time (Pillow: from 3.0 on the result is
# indistinguishable from a full Lanczos; 2.0 differs by a little less sharpness).
REDUCING_GAP: Final = 2.0

# Lanczos-3 reaches this many source pixels: when upscaling, the background pixels this
# close to the object are given the object's colours first.
LANCZOS_REACH_PX: Final = 3

# A probability pixel belongs to the object when its value exceeds this.
MASK_THRESHOLD: Final = alpha.THRESHOLD

# Palette sizes tried, in order, when the lossless PNG is too big. 256 colours already fit
# any 512 x 512 sticker (one byte per pixel is 256 KB before compression); the smaller sizes
# are there for callers with tighter limits.
PNG_PALETTE_SIZES: Final[tuple[int, ...]] = (256, 128, 64, 32, 16, 8, 4, 2)

# libimagequant gives the best palettes but is an optional Pillow feature; fast octree is
# always built in, and both keep the alpha channel (median cut does not support RGBA).
_QUANTIZER: Final = (
    Image.Quantize.LIBIMAGEQUANT
    if features.check_feature("libimagequant")
    else Image.Quantize.FASTOCTREE
)

# Lossy WEBP quality of stickers: visually lossless for photos, about 220 KB on pure noise.
WEBP_QUALITY: Final = 90
# Lower qualities tried, in this order, when a WEBP exceeds the size limit.
WEBP_FALLBACK_QUALITIES: Final[tuple[int, ...]] = (75, 60, 40, 20)
# libwebp effort 0..6. Measured on a 512 px photo sticker (python -m bench's photos): 4 takes
# 2x the time of 2 (26 ms vs 13 ms) for a file 3 % smaller, 6 is 10x slower than 4; the
# sticker is far below the size limit either way, so the cheap effort wins.
WEBP_METHOD: Final = 2

# zlib level of the first, lossless PNG attempt. Measured on a 512 px photo sticker: level 1
# takes 19 ms for 346 KB, level 6 110 ms for 307 KB (12 % smaller, 6x the time), level 9
# (Pillow's optimize=True) ~0.7 s. Only the 512 KB limit matters, so the fast level goes
# first and level 9 is only tried when its file is over the limit, before giving up on
# lossless.
PNG_FAST_COMPRESS_LEVEL: Final = 1


def sticker_margin(style: OutlineStyle) -> int:
    """Transparent margin, in sticker pixels, between the object's box and the canvas edge."""
    return outline_margin(style)


def compose_sticker(
    rgb: npt.NDArray[np.uint8],
    prob: npt.NDArray[np.floating],
    style: OutlineStyle,
    side: int = STICKER_SIDE,
    *,
    soft: bool = True,
) -> npt.NDArray[np.uint8]:
    """Cut the object out of the photo ``rgb`` as a ``side x side`` RGBA sticker.

    ``prob`` is the object's probability (> 0.5 on the object) at any resolution, usually
    the network's (smaller than the photo); it is mapped onto the photo by scaling. The
    object's bounding box plus :func:`sticker_margin` on each side is scaled (aspect ratio
    kept) so that its longer side is exactly ``side``, and centred. Only that window of the
    photo and of ``prob`` is resampled, once, straight to the sticker's scale, so the work
    does not grow with the photo. ``soft``: anti-aliased alpha and decontaminated edge
    colours (:mod:`segmentation.alpha`); otherwise the seed's binary cut. Then ``style`` is
    drawn (:mod:`segmentation.outline`). Raises ``ValueError`` on an empty ``prob``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
    if prob.ndim != 2:
        raise ValueError(f"prob must be a 2-D array, got shape {prob.shape}")
    inside = prob > MASK_THRESHOLD
    rows = np.flatnonzero(inside.any(axis=1))
    if rows.size == 0:
        raise ValueError("the mask is empty: there is no object to make a sticker of")
    cols = np.flatnonzero(inside.any(axis=0))
    # Photo pixels per probability pixel, along each axis.
    sy, sx = rgb.shape[0] / prob.shape[0], rgb.shape[1] / prob.shape[1]
    top, bottom = rows[0] * sy, (rows[-1] + 1) * sy
    left, right = cols[0] * sx, (cols[-1] + 1) * sx

    margin = sticker_margin(style)
    inner = side - 2 * margin
    if inner < 1:
        raise ValueError(f"side {side} leaves no room inside a margin of {margin} px")
    scale = inner / max(bottom - top, right - left)
    pad = margin / scale  # the margin in photo pixels
    box = (left - pad, top - pad, right + pad, bottom + pad)  # (x0, y0, x1, y1), floats
    out_w = max(1, min(side, round((box[2] - box[0]) * scale)))
    out_h = max(1, min(side, round((box[3] - box[1]) * scale)))

    window_rgb, window_box = _window(rgb, box)
    # The same window of the probability, padded with background where it leaves the photo.
    border = math.ceil(max(pad / sx, pad / sy)) + 2
    padded = np.pad(np.asarray(prob, dtype=np.float32), border)
    if soft and scale > 1:
        # Upscaling: clean the edge colours at the photo's scale first, so that Lanczos'
        # lobes spread the object's colours and not the background's.
        origin = (box[0] - window_box[0], box[1] - window_box[1])
        window_h, window_w = window_rgb.shape[:2]
        window_alpha = alpha.soft_alpha(
            padded,
            (window_w, window_h),
            (
                origin[0] / sx + border,
                origin[1] / sy + border,
                (origin[0] + window_w) / sx + border,
                (origin[1] + window_h) / sy + border,
            ),
        )
        window_rgb = alpha.decontaminate(
            window_rgb, window_alpha, alpha.RIM_PX, outside=LANCZOS_REACH_PX
        )
    scaled_rgb = np.asarray(
        Image.fromarray(window_rgb).resize(
            (out_w, out_h), PHOTO_RESAMPLING, box=window_box, reducing_gap=REDUCING_GAP
        ),
        dtype=np.uint8,
    )
    prob_box = (
        box[0] / sx + border,
        box[1] / sy + border,
        box[2] / sx + border,
        box[3] / sy + border,
    )
    if soft:
        scaled_alpha = alpha.soft_alpha(padded, (out_w, out_h), prob_box)
        scaled_rgb = alpha.decontaminate(scaled_rgb, scaled_alpha)
    else:
        scaled_alpha = alpha.hard_alpha(padded, (out_w, out_h), prob_box)

    y0, x0 = (side - out_h) // 2, (side - out_w) // 2
    canvas_alpha = np.zeros((side, side), dtype=np.float32)
    canvas_alpha[y0 : y0 + out_h, x0 : x0 + out_w] = scaled_alpha
    canvas_rgb = np.zeros((side, side, 3), dtype=np.uint8)
    canvas_rgb[y0 : y0 + out_h, x0 : x0 + out_w] = scaled_rgb
    return apply_outline(canvas_rgb, canvas_alpha, style)


def encode_png(rgba: npt.NDArray[np.uint8], max_bytes: int = MAX_STICKER_PNG_BYTES) -> bytes:
    """Encode ``rgba`` as an optimized PNG of at most ``max_bytes``.

    Lossless RGBA when it fits (zlib level 1, then 9); otherwise a palette PNG (alpha kept
    in its tRNS chunk) with as many colours of :data:`PNG_PALETTE_SIZES` as fit. Raises
    :class:`StickerError` when even the smallest palette is too big.
    """
    image = _rgba_image(rgba)
    data = _save(image, "PNG", compress_level=PNG_FAST_COMPRESS_LEVEL)
    if len(data) <= max_bytes:
        return data
    data = _save(image, "PNG", optimize=True)
    if len(data) <= max_bytes:
        return data
    lossless_size = len(data)
    for colors in PNG_PALETTE_SIZES:
        data = _save(image.quantize(colors, method=_QUANTIZER), "PNG", optimize=True)
        if len(data) <= max_bytes:
            logger.debug(
                "PNG of %d bytes over %d: %d colours give %d bytes",
                lossless_size,
                max_bytes,
                colors,
                len(data),
            )
            return data
    raise StickerError(
        f"cannot encode a {image.width}x{image.height} PNG within {max_bytes} bytes "
        f"(lossless {lossless_size} bytes, {PNG_PALETTE_SIZES[-1]} colours {len(data)} bytes)"
    )


def encode_webp(
    rgba: npt.NDArray[np.uint8],
    quality: int = WEBP_QUALITY,
    max_bytes: int = MAX_STICKER_PNG_BYTES,
) -> bytes:
    """Encode ``rgba`` as a lossy WEBP with lossless alpha, at most ``max_bytes`` long.

    Starts at ``quality`` and steps down through :data:`WEBP_FALLBACK_QUALITIES` while the
    file is too big; raises :class:`StickerError` when even the lowest is.
    """
    image = _rgba_image(rgba)
    qualities = [quality, *(q for q in WEBP_FALLBACK_QUALITIES if q < quality)]
    sizes: list[int] = []
    for q in qualities:
        data = _save(image, "WEBP", quality=q, method=WEBP_METHOD)
        if len(data) <= max_bytes:
            return data
        sizes.append(len(data))
    raise StickerError(
        f"cannot encode a {image.width}x{image.height} WEBP within {max_bytes} bytes "
        f"(qualities {qualities} gave {sizes} bytes)"
    )


def _window(
    rgb: npt.NDArray[np.uint8], box: tuple[float, float, float, float]
) -> tuple[npt.NDArray[np.uint8], tuple[float, float, float, float]]:
    """Cut the integer window around the float ``box``, padding where it leaves the photo.

    The photo is padded by repeating its edge (so Lanczos does not pull a dark fringe into
    an object touching the border). Returns the window and ``box`` in its coordinates.
    """
    height, width = rgb.shape[:2]
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    cy0, cy1 = max(y0, 0), min(y1, height)
    cx0, cx1 = max(x0, 0), min(x1, width)
    padding = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    window_rgb = np.pad(rgb[cy0:cy1, cx0:cx1], padding, mode="edge")
    shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    return window_rgb, shifted


def _rgba_image(rgba: npt.NDArray[np.uint8]) -> Image.Image:
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be an H x W x 4 uint8 array, got {rgba.shape} {rgba.dtype}")
    return Image.fromarray(rgba)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()
