"""The sticker's edge: an anti-aliased alpha from the object's probability, and edge colours
that belong to the object (foreground colour estimation).

:func:`soft_alpha` resamples the (refined) probability once, straight to the scale the
alpha is made at, and turns it into coverage: the probability's 0.5 level line is the
object's edge, and each pixel's alpha is the share of it on the object's side, estimated
from the signed distance ``(p - 0.5) / |grad p|`` in pixels (the way distance-field text is
rendered): a one-pixel ramp across the edge, at any scale, whatever the resampling made of the
probability's own ramp. :func:`hard_alpha` is the seed's binary cut at the same scale, kept
as the benchmark's reference.

:func:`decontaminate` replaces the colour of every edge pixel (partly transparent, or opaque
within :data:`RIM_PX` of the edge) by the mean of the interior pixels near it, so the rim carries
the object's colour and not the background it was cut from (a green lawn leaves no green
halo). Interior pixels keep their photo colour.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

FloatImage = npt.NDArray[np.float32]

# The probability is resampled bilinearly (non-negative kernel, no overshoot that would move
# the 0.5 line past the object's box), with Pillow's antialiasing when shrinking.
PROB_RESAMPLING: Final = Image.Resampling.BILINEAR

# Where the probability is flat, the signed distance is undefined: gradients below this
# (per pixel) give a hard 0/1 edge rather than a division by zero.
MIN_GRADIENT: Final = 1e-4

# Opaque pixels within this many pixels of a transparent or partial one are rim pixels: on a
# network-made edge the outermost opaque ring still mixes in the background's colour.
# (Upscaled stickers are cleaned at the photo's scale, before resampling.)
RIM_PX: Final = 2

# Alpha at or above this is opaque (the rim and interior test), below 1/255 transparent.
OPAQUE: Final = 1.0 - 0.5 / 255

# A pixel is inside the object when its probability exceeds this.
THRESHOLD: Final = 0.5

# (x0, y0, x1, y1) of a window of the probability map, in its pixel coordinates, floats.
Box = tuple[float, float, float, float]


def resample(prob: npt.NDArray[np.floating], size: tuple[int, int], box: Box | None) -> FloatImage:
    """``prob`` (``h x w``) resampled to ``size`` (width, height) over ``box`` (default: all)."""
    image = Image.fromarray(np.asarray(prob, dtype=np.float32))
    resized: FloatImage = np.asarray(image.resize(size, PROB_RESAMPLING, box=box))
    return resized


def soft_alpha(
    prob: npt.NDArray[np.floating], size: tuple[int, int], box: Box | None = None
) -> FloatImage:
    """Anti-aliased coverage alpha in [0, 1] of ``size`` (width, height) from ``prob``.

    ``box`` is the window of ``prob`` that maps onto the output (default: all of it).
    Intermediate values appear only on the pixels the 0.5 level line crosses or touches.
    """
    p = resample(prob, size, box) - np.float32(THRESHOLD)
    gy, gx = np.gradient(p)
    gradient = np.maximum(np.hypot(gx, gy), np.float32(MIN_GRADIENT))
    alpha: FloatImage = np.clip(np.float32(0.5) + p / gradient, 0.0, 1.0).astype(np.float32)
    # A pixel whose own probability is on one side keeps at least/most half coverage, so that
    # thresholding the alpha at 0.5 gives exactly the binary cut.
    inside = p > 0
    np.maximum(alpha, np.where(inside, np.float32(0.5 + 1 / 512), np.float32(0)), out=alpha)
    np.minimum(alpha, np.where(inside, np.float32(1), np.float32(0.5)), out=alpha)
    return alpha


def hard_alpha(
    prob: npt.NDArray[np.floating], size: tuple[int, int], box: Box | None = None
) -> FloatImage:
    """The seed's edge: the resampled probability thresholded at 0.5 (0 or 1)."""
    hard: FloatImage = (resample(prob, size, box) > THRESHOLD).astype(np.float32)
    return hard


def decontaminate(
    rgb: npt.NDArray[np.uint8], alpha: FloatImage, rim: int = RIM_PX, *, outside: int = 0
) -> npt.NDArray[np.uint8]:
    """``rgb`` with every edge pixel's colour replaced by the mean colour of the interior
    pixels near it (a normalised box filter over the interior: no background enters it).

    Edge pixels: ``0 < alpha < 1``, and opaque pixels within ``rim`` pixels of those or of
    transparent ones; with ``outside`` > 0, also transparent pixels within that many pixels
    of the object (before an upscaling filter that reaches that far). Interior pixels and
    the other transparent ones are returned unchanged, and so is an edge pixel with no
    interior pixel near it (an object too thin to have an interior).
    """
    if rgb.shape[:2] != alpha.shape:
        raise ValueError(f"alpha has shape {alpha.shape}, expected {rgb.shape[:2]}")
    opaque = alpha >= OPAQUE
    interior = ndimage.binary_erosion(opaque, iterations=max(1, rim), border_value=1)
    visible = alpha > 0
    if outside > 0:
        visible = ndimage.binary_dilation(visible, iterations=outside)
    edge = visible & ~interior
    if not interior.any() or not edge.any():
        return rgb
    # Every edge pixel is within rim + outside + 2 px of the interior (the partial ring is
    # at most one pixel beyond the opaque one).
    size = 2 * (max(1, rim) + outside + 2) + 1
    weight = ndimage.uniform_filter(interior.astype(np.float32), size)
    total = ndimage.uniform_filter(
        rgb.astype(np.float32) * interior[..., np.newaxis], size=(size, size, 1)
    )
    fill = edge & (weight > 1e-6)
    result = rgb.copy()
    mean = total[fill] / weight[fill, np.newaxis]
    result[fill] = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    return result
