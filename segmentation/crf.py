"""Dense-CRF refinement of a segmentation (Krähenbühl & Koltun 2011, via pydensecrf).

The network's masks are coarse (FCN-8s predicts at 1/8 resolution); a fully connected CRF
whose pairwise terms follow the photo's colours snaps the mask to the object's edges.

:func:`refine` is what the pipeline uses: a two-label CRF (target vs rest) run only over the
object's neighbourhood (its bounding box grown by a margin), which is both faster and keeps
far-away regions from pulling on the object. :func:`refine_full` is the seed post's
full-image CRF over all labels, kept as the benchmark reference.

Parameters (:class:`~segmentation.options.CrfParams`, defaults from the seed post):
a Gaussian kernel (position only, ``sxy`` 10, compat 3) that removes small isolated
pieces, and a bilateral kernel (position ``sxy`` 50 and colour ``srgb`` 20, compat 10)
that aligns the labels to colour edges; 5 mean-field iterations; diagonal kernels with
symmetric normalisation (pydensecrf's defaults, named explicitly here).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Final

import numpy as np
import numpy.typing as npt
import pydensecrf.densecrf as dcrf
from PIL import Image
from pydensecrf.utils import unary_from_softmax

from segmentation.options import CrfParams

logger = logging.getLogger(__name__)

# Probabilities are clipped into [EPS, 1 - EPS] before taking -log: a hard 0 or 1 from the
# network would be an infinite unary that no pairwise term could ever overturn.
PROB_EPS: Final = 1e-5

# A pixel belongs to the object when its target probability exceeds this.
OBJECT_THRESHOLD: Final = 0.5

# The seed post's parameters (a module-level value: the dataclass is frozen, so sharing it
# as the default argument is safe).
DEFAULT_CRF_PARAMS: Final = CrfParams()

# refine() runs the CRF of a region larger than this many pixels at a reduced resolution
# (both kernels' ``sxy`` scaled with it, so they span the same part of the photo) and
# upsamples the result. pydensecrf's time is linear in pixels (lattice build + 5 iterations,
# single-threaded); at 100k a 512 px photo's region is shrunk at most ~1.6x per side, which
# measured (python -m bench) 3.5x faster than the seed's CRF at the mask IoUs it reports.
MAX_CRF_PIXELS: Final = 100_000

# Resampling of the shrunk region: the photo with a box filter (an exact average, cheap, no
# ringing across colour edges), the probability and the CRF's result bilinearly.
_PHOTO_SHRINK: Final = Image.Resampling.BOX
_PROB_RESAMPLE: Final = Image.Resampling.BILINEAR

# Labels of the two-label CRF in refine().
_REST, _TARGET = 0, 1

# A region box: (top, bottom, left, right), bottom/right exclusive.
Box = tuple[int, int, int, int]


def refine(
    rgb: npt.NDArray[np.uint8],
    prob: npt.NDArray[np.floating],
    params: CrfParams = DEFAULT_CRF_PARAMS,
    *,
    max_pixels: int | None = MAX_CRF_PIXELS,
) -> npt.NDArray[np.float32]:
    """Refine the target probability map ``prob`` (``H x W``) against the photo ``rgb``.

    The CRF runs over the bounding box of ``prob > 0.5`` grown on each side by
    ``params.margin`` of the box's size (at least ``params.min_margin_px``), clipped to the
    image. A region of more than ``max_pixels`` pixels is shrunk to about that many for the
    CRF (``None``: never), with the kernels' spatial widths scaled alike, and its result
    upsampled back. Returns the refined target probability (``H x W`` ``float32``); outside
    the region, and everywhere when no pixel exceeds 0.5, it is ``prob`` unchanged.
    """
    _check_image(rgb)
    if prob.shape != rgb.shape[:2]:
        raise ValueError(f"prob has shape {prob.shape}, expected {rgb.shape[:2]}")
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    result = np.array(prob, dtype=np.float32, copy=True)
    box = object_region(prob, params)
    if box is None:
        return result
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    region_rgb = rgb[top:bottom, left:right]
    region_prob = result[top:bottom, left:right]
    factor = 1.0 if max_pixels is None else math.sqrt(height * width / max_pixels)
    if factor > 1.0:
        small = (max(1, round(width / factor)), max(1, round(height / factor)))
        region_rgb = np.asarray(Image.fromarray(region_rgb).resize(small, _PHOTO_SHRINK))
        region_prob = np.asarray(Image.fromarray(region_prob).resize(small, _PROB_RESAMPLE))
        params = dataclasses.replace(
            params,
            gaussian_sxy=params.gaussian_sxy / factor,
            bilateral_sxy=params.bilateral_sxy / factor,
        )
    target = np.clip(region_prob, PROB_EPS, 1.0 - PROB_EPS)
    q = _infer(region_rgb, np.stack([1.0 - target, target]), params)[_TARGET]
    if factor > 1.0:
        q = np.asarray(Image.fromarray(q).resize((width, height), _PROB_RESAMPLE))
    result[top:bottom, left:right] = q
    logger.debug("CRF refined region %s of a %s image (shrunk %.2fx)", box, rgb.shape[:2], factor)
    return result


def refine_full(
    rgb: npt.NDArray[np.uint8],
    probs21: npt.NDArray[np.floating],
    params: CrfParams = DEFAULT_CRF_PARAMS,
) -> npt.NDArray[np.int64]:
    """The seed's full-image CRF: ``probs21`` is ``H x W x C`` class probabilities.

    Returns the ``H x W`` label map (``int64``) after CRF inference over every pixel and all
    ``C`` labels (21 for PASCAL VOC). ``params.margin`` is not used.
    """
    _check_image(rgb)
    if probs21.ndim != 3 or probs21.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"probs21 has shape {probs21.shape}, expected {rgb.shape[:2]} + (C,)")
    clipped = np.clip(np.asarray(probs21, dtype=np.float32), PROB_EPS, 1.0)
    q = _infer(rgb, np.moveaxis(clipped, 2, 0), params)
    labels: npt.NDArray[np.int64] = np.argmax(q, axis=0).astype(np.int64)
    return labels


def object_region(
    prob: npt.NDArray[np.floating], params: CrfParams = DEFAULT_CRF_PARAMS
) -> Box | None:
    """The region :func:`refine` works on, ``(top, bottom, left, right)``; ``None`` if empty.

    Bounding box of ``prob > 0.5``, each side pushed out by ``params.margin`` times the box's
    extent along that axis (at least ``params.min_margin_px``), clipped to the image.
    """
    rows = np.flatnonzero((prob > OBJECT_THRESHOLD).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((prob > OBJECT_THRESHOLD).any(axis=0))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1
    grow_y = max(params.min_margin_px, int(np.ceil(params.margin * (bottom - top))))
    grow_x = max(params.min_margin_px, int(np.ceil(params.margin * (right - left))))
    height, width = prob.shape[:2]
    return (
        max(0, top - grow_y),
        min(height, bottom + grow_y),
        max(0, left - grow_x),
        min(width, right + grow_x),
    )


def _infer(
    rgb: npt.NDArray[np.uint8], probs: npt.NDArray[np.floating], params: CrfParams
) -> npt.NDArray[np.float32]:
    """Mean-field inference; ``probs`` is ``C x H x W``, returns ``Q`` as ``C x H x W``."""
    labels, height, width = probs.shape
    crf = dcrf.DenseCRF2D(width, height, labels)
    # pydensecrf's Cython wrapper needs C-contiguous float32 unaries and uint8 images.
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs, clip=PROB_EPS)))
    crf.addPairwiseGaussian(
        sxy=params.gaussian_sxy,
        compat=params.gaussian_compat,
        kernel=dcrf.DIAG_KERNEL,
        normalization=dcrf.NORMALIZE_SYMMETRIC,
    )
    crf.addPairwiseBilateral(
        sxy=params.bilateral_sxy,
        srgb=params.bilateral_srgb,
        rgbim=np.require(rgb, dtype=np.uint8, requirements=["C", "W"]),
        compat=params.bilateral_compat,
        kernel=dcrf.DIAG_KERNEL,
        normalization=dcrf.NORMALIZE_SYMMETRIC,
    )
    q = np.asarray(crf.inference(params.iterations), dtype=np.float32)
    return q.reshape(labels, height, width)


def _check_image(rgb: npt.NDArray[np.uint8]) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
