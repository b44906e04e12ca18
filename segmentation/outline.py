"""Outline styles drawn around the cut-out object on the sticker canvas.

* ``stroke`` (the default): an anti-aliased band of ``width`` pixels *outside* the object,
  round at corners (a Euclidean dilation of the object's silhouette), in ``color`` (white),
  as Telegram's own sticker maker draws it; with ``shadow``, a soft drop shadow under both.
* ``seed``: the seed post's look, a band inside the edge where a ``width x width`` square
  erosion removes the object (:func:`segmentation.contour.contour_band`), painted light grey.
* ``none``: the object alone.

:func:`apply_outline` works on premultiplied-free float layers: the object's colour and
alpha in, the canvas' RGBA out. :func:`outline_margin` is the transparent room every style
needs around the object so that nothing it draws is clipped by the canvas edge.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from segmentation.contour import contour_band
from segmentation.options import OUTLINE_STYLES, OutlineStyle

STROKE: Final = "stroke"
SEED: Final = "seed"
NONE: Final = "none"
KINDS: Final = (STROKE, SEED, NONE)

# Named styles the CLI and the bot offer (``shadow`` is a separate switch).
STYLES: Final = OUTLINE_STYLES

# The drop shadow: offset down-right by this share of the stroke width (at least 2 px),
# blurred with this Gaussian sigma (pixels), black at this opacity.
SHADOW_OFFSET_RATIO: Final = 0.6
SHADOW_SIGMA_PX: Final = 4.0
SHADOW_OPACITY: Final = 0.35
# The Gaussian is negligible (< 0.2 % of its peak) beyond this many sigmas.
SHADOW_EXTENT_SIGMAS: Final = 3.5

# Transparent pixels kept between whatever a style draws and the canvas edge, so that a
# viewer's own antialiasing never touches the frame.
MARGIN_SLACK_PX: Final = 2


def outline_margin(style: OutlineStyle) -> int:
    """Transparent margin, in canvas pixels, that ``style`` needs around the object."""
    # The stroke reaches width + 1 px (its anti-aliased rim); the seed kept its band's
    # width as margin, and so does it here (the seed's sticker geometry, unchanged).
    reach = {STROKE: style.width + 1.0, SEED: float(style.width)}.get(style.kind, 0.0)
    if style.shadow:
        reach += _shadow_offset(style) + SHADOW_EXTENT_SIGMAS * SHADOW_SIGMA_PX
    return math.ceil(reach) + MARGIN_SLACK_PX


def apply_outline(
    rgb: npt.NDArray[np.uint8], alpha: npt.NDArray[np.float32], style: OutlineStyle
) -> npt.NDArray[np.uint8]:
    """The canvas' RGBA (``uint8``) of the object (colour ``rgb``, coverage ``alpha`` in
    [0, 1]) with ``style`` drawn around it. RGB is 0 wherever alpha is 0."""
    if style.kind not in KINDS:
        raise ValueError(f"unknown outline style {style.kind!r}; choose one of {KINDS}")
    colour = rgb.astype(np.float32)
    alpha = np.asarray(alpha, dtype=np.float32)
    if style.kind == SEED:
        band = contour_band(alpha > 0.5, style.width)
        colour[band] = style.color
        alpha = np.where(band, np.float32(1.0), alpha)
    elif style.kind == STROKE and style.width > 0:
        ring = stroke_alpha(alpha, style.width)
        colour, alpha = _over(colour, alpha, np.array(style.color, np.float32), ring)
    if style.shadow:
        colour, alpha = _over(colour, alpha, np.zeros(3, np.float32), _shadow(alpha, style))
    return _to_rgba(colour, alpha)


def stroke_alpha(alpha: npt.NDArray[np.float32], width: float) -> npt.NDArray[np.float32]:
    """Coverage of the object's silhouette grown by ``width`` pixels in every direction
    (round corners), anti-aliased over one pixel."""
    # Distance (px) from each pixel to the nearest object pixel, corrected by the edge pixel's
    # own coverage: a pixel half covered is half a pixel from the edge.
    inside = alpha > 0.5
    distance = ndimage.distance_transform_edt(~inside).astype(np.float32)
    ring: npt.NDArray[np.float32] = np.clip(width + 1.0 - distance, 0.0, 1.0)
    return np.maximum(ring, alpha)


def _shadow(alpha: npt.NDArray[np.float32], style: OutlineStyle) -> npt.NDArray[np.float32]:
    offset = _shadow_offset(style)
    blurred = ndimage.gaussian_filter(alpha, SHADOW_SIGMA_PX)
    shifted = ndimage.shift(blurred, (offset, offset), order=1, mode="constant", cval=0.0)
    result: npt.NDArray[np.float32] = (SHADOW_OPACITY * shifted).astype(np.float32)
    return result


def _shadow_offset(style: OutlineStyle) -> float:
    return max(2.0, SHADOW_OFFSET_RATIO * style.width)


def _over(
    top: npt.NDArray[np.float32],
    top_alpha: npt.NDArray[np.float32],
    under: npt.NDArray[np.float32],
    under_alpha: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Porter-Duff ``top`` over ``under`` (straight, not premultiplied colours)."""
    a_top = top_alpha[..., np.newaxis]
    a_under = (under_alpha * (1.0 - top_alpha))[..., np.newaxis]
    alpha = top_alpha + under_alpha * (1.0 - top_alpha)
    colour = (top * a_top + under * a_under) / np.maximum(alpha[..., np.newaxis], 1e-6)
    return colour.astype(np.float32), alpha.astype(np.float32)


def _to_rgba(
    colour: npt.NDArray[np.float32], alpha: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    rgba = np.empty((*alpha.shape, 4), np.uint8)
    a8 = np.rint(np.clip(alpha, 0.0, 1.0) * 255).astype(np.uint8)
    rgba[..., :3] = np.rint(np.clip(colour, 0, 255)).astype(np.uint8)
    rgba[..., 3] = a8
    rgba[a8 == 0, :3] = 0
    return rgba
