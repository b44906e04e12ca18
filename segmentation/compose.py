"""Compose the sticker (512 x 512 RGBA with a light contour) and encode it as PNG / WEBP.

:func:`compose_sticker` crops the photo around the object, scales it so that the crop's
longer side is exactly the sticker side, centres it on a transparent square canvas and paints
the contour band (:func:`segmentation.contour.contour_band`, computed at sticker resolution so
that its width is the same on every sticker). The crop keeps a margin of
:func:`sticker_margin` output pixels around the object, so neither the object nor its band
ever touches the canvas edge.

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

from segmentation.contour import contour_band
from segmentation.errors import StickerError
from segmentation.limits import MAX_STICKER_PNG_BYTES, STICKER_SIDE
from segmentation.options import ContourStyle

logger = logging.getLogger(__name__)

# Extra transparent pixels beyond the contour width around the object, so that it keeps a
# clean transparent rim on every side even where a viewer's antialiasing blurs its edge.
MARGIN_SLACK_PX: Final = 2

# The photo is resampled with Lanczos (sharpest); the mask with bilinear (antialiased when
# shrinking) before thresholding: Lanczos' negative lobes overshoot, and upscaling a small
# mask then bulges its thresholded edge a pixel past the object's box, eating the margin.
# A non-negative kernel cannot push the mask beyond the box.
PHOTO_RESAMPLING: Final = Image.Resampling.LANCZOS
MASK_RESAMPLING: Final = Image.Resampling.BILINEAR

# A resampled mask pixel belongs to the object when its interpolated value exceeds this.
MASK_THRESHOLD: Final = 0.5

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


def sticker_margin(style: ContourStyle) -> int:
    """Transparent margin, in sticker pixels, between the object's box and the canvas edge."""
    return style.width + MARGIN_SLACK_PX


def compose_sticker(
    rgb: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.bool_],
    style: ContourStyle,
    side: int = STICKER_SIDE,
) -> npt.NDArray[np.uint8]:
    """Cut the object ``mask`` out of the photo ``rgb`` as a ``side x side`` RGBA sticker.

    The object's bounding box plus :func:`sticker_margin` on each side is scaled (aspect
    ratio kept) so that its longer side is exactly ``side``, and centred. Alpha is 255
    on the (resampled) object and 0 elsewhere, where RGB is 0 too; the contour band is
    painted in ``style.color``. Raises ``ValueError`` on an empty mask or mismatched shapes.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape}, expected {rgb.shape[:2]}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise ValueError("the mask is empty: there is no object to make a sticker of")
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1

    margin = sticker_margin(style)
    inner = side - 2 * margin
    if inner < 1:
        raise ValueError(f"side {side} leaves no room inside a margin of {margin} px")
    scale = inner / max(bottom - top, right - left)
    pad = margin / scale  # the margin in photo pixels
    box = (left - pad, top - pad, right + pad, bottom + pad)  # (x0, y0, x1, y1), floats
    out_w = min(side, round((box[2] - box[0]) * scale))
    out_h = min(side, round((box[3] - box[1]) * scale))

    window_rgb, window_mask, window_box = _window(rgb, mask, box)
    scaled_rgb = np.asarray(
        Image.fromarray(window_rgb).resize((out_w, out_h), PHOTO_RESAMPLING, box=window_box),
        dtype=np.uint8,
    )
    scaled_mask = (
        np.asarray(
            Image.fromarray(window_mask.astype(np.float32)).resize(
                (out_w, out_h), MASK_RESAMPLING, box=window_box
            )
        )
        > MASK_THRESHOLD
    )

    y0, x0 = (side - out_h) // 2, (side - out_w) // 2
    canvas_mask = np.zeros((side, side), dtype=bool)
    canvas_mask[y0 : y0 + out_h, x0 : x0 + out_w] = scaled_mask
    sticker = np.zeros((side, side, 4), dtype=np.uint8)
    sticker[y0 : y0 + out_h, x0 : x0 + out_w, :3] = scaled_rgb
    sticker[~canvas_mask] = 0
    sticker[contour_band(canvas_mask, style.width), :3] = style.color
    sticker[canvas_mask, 3] = 255
    return sticker


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
    rgb: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.bool_],
    box: tuple[float, float, float, float],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], tuple[float, float, float, float]]:
    """Cut the integer window around the float ``box``, padding where it leaves the photo.

    The photo is padded by repeating its edge (so Lanczos does not pull a dark fringe into
    an object touching the border) and the mask with background. Returns the window's RGB,
    mask, and ``box`` in window coordinates.
    """
    height, width = mask.shape
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    cy0, cy1 = max(y0, 0), min(y1, height)
    cx0, cx1 = max(x0, 0), min(x1, width)
    padding = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1))
    window_rgb = np.pad(rgb[cy0:cy1, cx0:cx1], (*padding, (0, 0)), mode="edge")
    window_mask = np.pad(mask[cy0:cy1, cx0:cx1], padding, mode="constant")
    shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    return window_rgb, window_mask, shifted


def _rgba_image(rgba: npt.NDArray[np.uint8]) -> Image.Image:
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be an H x W x 4 uint8 array, got {rgba.shape} {rgba.dtype}")
    return Image.fromarray(rgba)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()
