"""Dense-CRF refinement of a segmentation (Krähenbühl & Koltun 2011, via pydensecrf).

The network's masks are coarse (FCN-8s predicts at 1/8 resolution); a fully connected CRF
whose pairwise terms follow the photo's colours snaps the mask to the object's edges.

:func:`refine_classes` is what the pipeline uses: a CRF run only over the object's
neighbourhood (its bounding box grown by a margin), with only the classes that compete there,
which is both faster and keeps far-away regions from pulling on the object. :func:`refine` is
the same with two labels (target vs rest) from a single probability map. :func:`refine_full`
is the seed post's full-image CRF over all labels, kept as the benchmark reference.

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
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import pydensecrf.densecrf as dcrf
from PIL import Image
from pydensecrf.utils import unary_from_softmax

from segmentation import edgeband
from segmentation.classes import BACKGROUND
from segmentation.options import CRF_PRESETS, CrfParams, EdgeBandParams

logger = logging.getLogger(__name__)

# Probabilities are clipped into [EPS, 1 - EPS] before taking -log: a hard 0 or 1 from the
# network would be an infinite unary that no pairwise term could ever overturn.
PROB_EPS: Final = 1e-5

# A pixel belongs to the object when its target probability exceeds this.
OBJECT_THRESHOLD: Final = 0.5

# The seed post's parameters (a module-level value: the dataclass is frozen, so sharing it
# as the default argument is safe).
DEFAULT_CRF_PARAMS: Final = CRF_PRESETS["seed"]

# Named parameter presets (segmentation.options.CRF_PRESETS, where the CLI reads their
# names without importing pydensecrf).
SEED_PRESET: Final = "seed"
TUNED_PRESET: Final = "tuned"
PRESETS: Final = CRF_PRESETS

# refine() runs the CRF of a region larger than this many pixels at a reduced resolution
# (both kernels' ``sxy`` scaled with it, so they span the same part of the photo) and
# upsamples the result. pydensecrf's time is linear in pixels (lattice build + 5 iterations,
# single-threaded); at 100k a 512 px photo's region is shrunk at most ~1.6x per side, which
# measured (python -m bench) 3.5x faster than the seed's CRF at the mask IoUs it reports.
MAX_CRF_PIXELS: Final = 100_000

# Bounds of the size scaling of the kernel widths (CrfParams.size_reference): below a
# quarter, the Gaussian kernel of a tiny object is narrower than a pixel; above 4, a photo-
# filling object's bilateral kernel spans more than the inference image.
SIZE_SCALE_RANGE: Final = (0.25, 4.0)

# Resampling of the shrunk region: the photo with a box filter (an exact average, cheap, no
# ringing across colour edges), the probability and the CRF's result bilinearly.
_PHOTO_SHRINK: Final = Image.Resampling.BOX
_PROB_RESAMPLE: Final = Image.Resampling.BILINEAR

# A region box: (top, bottom, left, right), bottom/right exclusive.
Box = tuple[int, int, int, int]


def refine(
    rgb: npt.NDArray[np.uint8],
    prob: npt.NDArray[np.floating],
    params: CrfParams = DEFAULT_CRF_PARAMS,
    *,
    max_pixels: int | None = MAX_CRF_PIXELS,
) -> npt.NDArray[np.float32]:
    """Two-label CRF: refine the target probability map ``prob`` (``H x W``) against ``rgb``.

    The CRF (target vs rest) runs over :func:`object_region` of ``prob``. A region of more
    than ``max_pixels`` pixels is shrunk to about that many for the CRF (``None``: never),
    with the kernels' spatial widths scaled alike, and its result upsampled back. Returns the
    refined target probability (``H x W`` ``float32``); outside the region, and everywhere
    when no pixel exceeds 0.5, it is ``prob`` unchanged.
    """
    _check_arguments(rgb, max_pixels)
    if prob.shape != rgb.shape[:2]:
        raise ValueError(f"prob has shape {prob.shape}, expected {rgb.shape[:2]}")
    result = np.array(prob, dtype=np.float32, copy=True)
    box = object_region(prob, params)
    if box is not None:
        top, bottom, left, right = box
        target = result[top:bottom, left:right]
        unary = _soften(np.stack([target, 1.0 - target], axis=-1), params.unary_temperature)
        params = _sized(params, result)
        refined = _refine_region(rgb, box, unary, params, max_pixels)
        result[top:bottom, left:right] = constrain(target, refined, params)
    return result


def refine_classes(
    rgb: npt.NDArray[np.uint8],
    probs: npt.NDArray[np.floating],
    target: int,
    params: CrfParams = DEFAULT_CRF_PARAMS,
    *,
    max_pixels: int | None = MAX_CRF_PIXELS,
) -> npt.NDArray[np.float32]:
    """What the pipeline runs: a CRF over the classes that compete in the object's region.

    ``probs`` is ``H x W x C`` class probabilities, ``target`` a class index. The region is
    :func:`object_region` of :func:`target_probability`; its labels are the target plus every
    class that is the network's argmax somewhere in it (usually just background; a bicycle
    under a rider too), with their probabilities renormalised. Classes that win nowhere near
    the object barely move the seed's 21-label result, so dropping them keeps its masks (mask
    IoU >= 0.97 on the benchmark photos, ``python -m bench``) at a fraction of the work,
    where two labels (target vs rest) let a neighbouring object's mass join the background's
    and lost up to 6 points of IoU. Returns the refined two-label probability (``H x W``
    ``float32``, > 0.5 exactly where the CRF labels the pixel ``target``); outside the
    region it is :func:`target_probability`. With ``params.edge_band``, the region CRF runs
    on at most its ``region_pixels`` and :func:`segmentation.edgeband.refine_edge` then
    re-decides the band around the edge at full resolution.
    """
    _check_arguments(rgb, max_pixels)
    if probs.ndim != 3 or probs.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"probs has shape {probs.shape}, expected {rgb.shape[:2]} + (C,)")
    if not 0 <= target < probs.shape[2]:
        raise ValueError(f"target class {target} is not in 0..{probs.shape[2] - 1}")
    result = target_probability(probs, target)
    box = object_region(result, params)
    if box is None:
        return result
    top, bottom, left, right = box
    region = np.asarray(probs[top:bottom, left:right], dtype=np.float32)
    labels = competing_labels(region, target)
    unary = _soften(region[..., labels], params.unary_temperature)
    band = params.edge_band
    if band is not None and max_pixels is not None:
        max_pixels = min(max_pixels, band.region_pixels)
    params = _sized(params, result)
    refined = _refine_region(rgb, box, unary, params, max_pixels)
    network = result[top:bottom, left:right]
    result[top:bottom, left:right] = constrain(network, refined, params)
    if band is not None:
        result = refine_edge(rgb, probs, target, result, band, labels[1:], box)
    return result


def refine_edge(
    rgb: npt.NDArray[np.uint8],
    probs: npt.NDArray[np.floating],
    target: int,
    prob: npt.NDArray[np.float32],
    band: EdgeBandParams,
    rivals: Sequence[int],
    box: Box,
) -> npt.NDArray[np.float32]:
    """:func:`segmentation.edgeband.refine_edge` of ``prob``, with the edges between the
    target and another object frozen: pixels of ``box`` where the strongest of ``rivals``
    (the other classes competing there) is not the background. The band's two labels
    (object vs rest) know nothing of a rider's horse; the region CRF decided that edge over
    both classes (python -m bench.quality --band: unfrozen, a rider lost 0.037 IoU)."""
    objects = [label for label in rivals if label not in (target, BACKGROUND)]
    frozen = None
    if objects:
        top, bottom, left, right = box
        rival_labels = [label for label in rivals if label != target]
        region = np.asarray(probs[top:bottom, left:right][..., rival_labels])
        strongest = np.asarray(rival_labels)[region.argmax(axis=-1)]
        frozen = np.zeros(prob.shape, dtype=bool)
        frozen[top:bottom, left:right] = strongest != BACKGROUND
    return edgeband.refine_edge(rgb, prob, band, frozen)


def competing_labels(region: npt.NDArray[np.float32], target: int) -> list[int]:
    """The labels of a region's CRF: ``target`` first, then every class that is the argmax
    somewhere in ``region`` (``h x w x C``), or the target's strongest rival by mass when the
    target wins everywhere."""
    wins = np.bincount(region.argmax(axis=-1).ravel(), minlength=region.shape[2])
    labels = [target, *(int(c) for c in np.flatnonzero(wins) if c != target)]
    if len(labels) == 1:  # the target wins everywhere: its strongest rival is the other label
        mass = region.sum(axis=(0, 1))
        mass[target] = -1.0
        labels.append(int(mass.argmax()))
    return labels


def _soften(unary: npt.NDArray[np.float32], temperature: float) -> npt.NDArray[np.float32]:
    """``unary`` (``... x L`` probabilities) to the power ``1 / temperature``, renormalised
    over the labels."""
    if temperature <= 0:
        raise ValueError(f"unary_temperature must be positive, got {temperature}")
    if temperature != 1.0:
        unary = np.power(np.maximum(unary, 0.0), np.float32(1.0 / temperature))
    result: npt.NDArray[np.float32] = unary / np.maximum(
        unary.sum(axis=-1, keepdims=True), PROB_EPS
    )
    return result


def _sized(params: CrfParams, prob: npt.NDArray[np.float32]) -> CrfParams:
    """``params`` with both kernel widths scaled to the object's size (``size_reference``)."""
    if params.size_reference <= 0:
        return params
    side = math.sqrt(float(np.count_nonzero(prob > OBJECT_THRESHOLD)))
    scale = min(max(side / params.size_reference, SIZE_SCALE_RANGE[0]), SIZE_SCALE_RANGE[1])
    return dataclasses.replace(
        params,
        gaussian_sxy=params.gaussian_sxy * scale,
        bilateral_sxy=params.bilateral_sxy * scale,
    )


def constrain(
    network: npt.NDArray[np.float32], refined: npt.NDArray[np.float32], params: CrfParams
) -> npt.NDArray[np.float32]:
    """What the CRF may change: the refined probability in the uncertain band
    ``1 - gate < network < gate`` and the network's outside it (``gate`` >= 1: the CRF's
    everywhere); and the network's everywhere when that leaves the object smaller than
    ``min_area_ratio`` of the network's (a CRF snaps edges; one that takes away a large part
    of an object is smoothing a thin or faint object away)."""
    result = refined
    if params.gate < 1.0:
        confident = (network >= params.gate) | (network <= 1.0 - params.gate)
        result = np.where(confident, network, refined).astype(np.float32)
    if params.min_area_ratio > 0:
        before = np.count_nonzero(network > OBJECT_THRESHOLD)
        after = np.count_nonzero(result > OBJECT_THRESHOLD)
        if after < params.min_area_ratio * before:
            logger.debug("CRF kept %d of %d object pixels: not applied", after, before)
            return network
    return result


def target_probability(probs: npt.NDArray[np.floating], index: int) -> npt.NDArray[np.float32]:
    """Two-label (target vs rest) probability that is > 0.5 exactly where argmax == target.

    ``p_target / (p_target + p_best_other)``: plain ``p_target`` would lose pixels where the
    target wins with less than half the mass.
    """
    target = np.asarray(probs[..., index], dtype=np.float32)
    # A running maximum over the other classes' planes: ~1.5x faster than a copy without
    # the target followed by a reduction over the short class axis.
    others = np.zeros_like(target)
    for label in range(probs.shape[-1]):
        if label != index:
            np.maximum(others, probs[..., label], out=others)
    result: npt.NDArray[np.float32] = target / np.maximum(target + others, 1e-12)
    return result


def _refine_region(
    rgb: npt.NDArray[np.uint8],
    box: Box,
    unary: npt.NDArray[np.float32],
    params: CrfParams,
    max_pixels: int | None,
) -> npt.NDArray[np.float32]:
    """CRF over ``box`` of ``rgb``; ``unary`` is the region's ``h x w x L`` probabilities,
    label 0 the target. Returns the region's refined two-label target probability."""
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    region_rgb = rgb[top:bottom, left:right]
    channels = [unary[..., label] for label in range(unary.shape[-1])]
    factor = 1.0 if max_pixels is None else math.sqrt(height * width / max_pixels)
    if factor > 1.0:
        small = (max(1, round(width / factor)), max(1, round(height / factor)))
        region_rgb = np.asarray(Image.fromarray(region_rgb).resize(small, _PHOTO_SHRINK))
        channels = [_resize(channel, small) for channel in channels]
        params = dataclasses.replace(
            params,
            gaussian_sxy=params.gaussian_sxy / factor,
            bilateral_sxy=params.bilateral_sxy / factor,
        )
    q = _infer(region_rgb, np.clip(np.stack(channels), PROB_EPS, 1.0 - PROB_EPS), params)
    rival = q[1:].max(axis=0)
    two_label: npt.NDArray[np.float32] = q[0] / np.maximum(q[0] + rival, 1e-12)
    if factor > 1.0:
        two_label = _resize(two_label, (width, height))
    logger.debug("CRF refined region %s, %d labels (shrunk %.2fx)", box, unary.shape[-1], factor)
    return two_label


def _resize(channel: npt.NDArray[np.floating], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    image = Image.fromarray(np.asarray(channel, dtype=np.float32))
    resized: npt.NDArray[np.float32] = np.asarray(image.resize(size, _PROB_RESAMPLE))
    return resized


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


def preset_names() -> tuple[str, ...]:
    """Every name :func:`preset` accepts."""
    return (TUNED_PRESET, *PRESETS)


def preset(name: str, segmenter_name: str = "") -> CrfParams:
    """The parameters of preset ``name``; ``"tuned"`` picks the one tuned for the segmenter
    called ``segmenter_name`` (FCN-8s in any precision: "fcn8s", anything else: "deeplab",
    the sharp-network preset). Raises ``ValueError`` on an unknown name."""
    if name == TUNED_PRESET:
        name = "fcn8s" if segmenter_name.startswith("fcn8s") else "deeplab"
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown CRF preset {name!r}; choose one of {', '.join(preset_names())}"
        ) from None


def _check_arguments(rgb: npt.NDArray[np.uint8], max_pixels: int | None) -> None:
    _check_image(rgb)
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")


def _check_image(rgb: npt.NDArray[np.uint8]) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
