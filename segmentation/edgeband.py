"""Edge-band refinement: a second, edge-only dense CRF at the probability's own resolution.

DeepLab's logits come at output stride 16, so its 0.5 line sits on a 16-32 px grid of the
photo, and the region CRF (:func:`segmentation.crf.refine_classes`) runs on a shrunk copy of
the region. :func:`refine_edge` moves the edge onto the photo's colour edges within a band of
``width_px`` pixels on either side of the 0.5 line, at full inference resolution: a fully
connected CRF (pydensecrf's generic ``DenseCRF``, positions and colours as features) over
only the pixels of the band plus a ``halo_px`` ring around it (skipped when those are more
than ``max_pixels``). Band pixels start from the
probability; halo pixels are pinned to their side (a near-certain unary) and pull the band
towards the colours of their side. Pixels outside the band are never changed, and when the
result keeps less than ``min_area_ratio`` of the object, the input is returned unchanged.

Running on the band alone (not its bounding box) is what keeps it cheap: a few thousand
pixels along the contour instead of the whole object, about a quarter of the time of the
region CRF on 100k pixels (``python -m bench.quality --band`` times the post-processing with
and without it).
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np
import numpy.typing as npt
import pydensecrf.densecrf as dcrf
from scipy import ndimage

from segmentation.options import EdgeBandParams

logger = logging.getLogger(__name__)

# A pixel belongs to the object when its probability exceeds this.
THRESHOLD: Final = 0.5

# The band's unaries are the probability clipped into [EPS, 1 - EPS] (a hard 0 or 1 would be
# an infinite unary); the halo's are PINNED and 1 - PINNED: far stronger than any pairwise
# term (compat ~10), so the halo keeps its side and only pulls on the band.
EPS: Final = 1e-5
PINNED: Final = 1e-4

FloatImage = npt.NDArray[np.float32]


def refine_edge(
    rgb: npt.NDArray[np.uint8],
    prob: npt.NDArray[np.floating],
    params: EdgeBandParams,
    frozen: npt.NDArray[np.bool_] | None = None,
) -> FloatImage:
    """``prob`` (``H x W``, the object's probability at the resolution of ``rgb``) with the
    pixels within ``params.width_px`` of its 0.5 line re-decided by an edge-only CRF.

    ``frozen`` (``H x W``, optional) marks pixels the pass must not change even in the band
    (they are pinned to their side like the halo): the pipeline freezes the edges between
    the object and another object, which the region CRF decides over both classes.
    Returns a new ``float32`` array; pixels farther from the line keep their value exactly.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
    if prob.shape != rgb.shape[:2]:
        raise ValueError(f"prob has shape {prob.shape}, expected {rgb.shape[:2]}")
    if frozen is not None and frozen.shape != prob.shape:
        raise ValueError(f"frozen has shape {frozen.shape}, expected {prob.shape}")
    if params.width_px < 1 or params.halo_px < 0:
        raise ValueError(
            f"band width_px must be >= 1 and halo_px >= 0, got {params.width_px}, {params.halo_px}"
        )
    result = np.array(prob, dtype=np.float32, copy=True)
    inside = result > THRESHOLD
    if not inside.any() or inside.all():
        return result
    top, bottom, left, right = _window(inside, params.width_px + params.halo_px + 1)
    window = inside[top:bottom, left:right]
    # Distance to the other side: 1 on the pixels next to the 0.5 line, growing away from it.
    distance = np.where(
        window,
        ndimage.distance_transform_edt(window),
        ndimage.distance_transform_edt(~window),
    )
    ys, xs = np.nonzero(distance <= params.width_px + params.halo_px)
    if ys.size > params.max_pixels:
        logger.debug("edge band of %d pixels (> %d): not run", ys.size, params.max_pixels)
        return result
    in_band = distance[ys, xs] <= params.width_px
    if frozen is not None:
        in_band &= ~frozen[top:bottom, left:right][ys, xs]
    p = np.clip(result[top:bottom, left:right][ys, xs], EPS, 1.0 - EPS)
    pinned = np.where(window[ys, xs], np.float32(1.0 - PINNED), np.float32(PINNED))
    p = np.where(in_band, p, pinned)
    q = _infer(rgb[top:bottom, left:right][ys, xs], ys, xs, p, params)
    before = np.count_nonzero(inside)
    region = result[top:bottom, left:right]
    region[ys[in_band], xs[in_band]] = q[in_band]
    after = np.count_nonzero(result > THRESHOLD)
    if after < params.min_area_ratio * before:
        logger.debug("edge band kept %d of %d object pixels: not applied", after, before)
        return np.array(prob, dtype=np.float32, copy=True)
    logger.debug("edge band: %d pixels, %d in the band", ys.size, np.count_nonzero(in_band))
    return result


def _window(inside: npt.NDArray[np.bool_], grow: int) -> tuple[int, int, int, int]:
    """The bounding box of ``inside`` grown by ``grow`` pixels, clipped to the image."""
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    height, width = inside.shape
    return (
        max(0, int(rows[0]) - grow),
        min(height, int(rows[-1]) + 1 + grow),
        max(0, int(cols[0]) - grow),
        min(width, int(cols[-1]) + 1 + grow),
    )


def _infer(
    colours: npt.NDArray[np.uint8],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    prob: npt.NDArray[np.float32],
    params: EdgeBandParams,
) -> FloatImage:
    """Mean-field inference over the listed pixels (two labels); returns ``Q(object)``."""
    crf = dcrf.DenseCRF(int(prob.size), 2)
    unary = -np.log(np.stack([prob, 1.0 - prob])).astype(np.float32)
    crf.setUnaryEnergy(np.ascontiguousarray(unary))
    position = np.stack([xs, ys]).astype(np.float32)
    if params.gaussian_compat > 0:
        crf.addPairwiseEnergy(
            np.ascontiguousarray(position / np.float32(params.gaussian_sxy)),
            compat=params.gaussian_compat,
            kernel=dcrf.DIAG_KERNEL,
            normalization=dcrf.NORMALIZE_SYMMETRIC,
        )
    features = np.vstack(
        [
            position / np.float32(params.bilateral_sxy),
            colours.T.astype(np.float32) / np.float32(params.bilateral_srgb),
        ]
    )
    crf.addPairwiseEnergy(
        np.ascontiguousarray(features),
        compat=params.bilateral_compat,
        kernel=dcrf.DIAG_KERNEL,
        normalization=dcrf.NORMALIZE_SYMMETRIC,
    )
    q = np.asarray(crf.inference(params.iterations), dtype=np.float32).reshape(2, prob.size)
    result: FloatImage = q[0]
    return result
