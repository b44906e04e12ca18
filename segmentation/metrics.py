"""Quality of one object's cut-out against ground truth: region, boundary and alpha metrics.

Every function takes the prediction and the ground truth at the same resolution, plus an
optional ``void`` mask of pixels that do not count (PASCAL VOC's 255 band, crowd regions).

* :func:`mask_iou` -- intersection over union of two binary masks.
* :func:`boundary_f` -- the DAVIS boundary F-measure (Perazzi et al. 2016): precision and
  recall of the predicted boundary pixels against the true ones, each matched when a boundary
  pixel of the other mask lies within ``tolerance`` pixels (Euclidean).
* :func:`boundary_iou` -- Boundary IoU (Cheng et al. 2021): IoU of the two masks' inner
  bands, the pixels within ``d`` of their own contour, ``d`` a share of the image diagonal.
* :func:`coverage_alpha` and :func:`alpha_errors` -- how well a soft alpha matches the true
  coverage: the ground-truth mask area-averaged by an integer factor (each alpha pixel covers
  ``factor x factor`` ground-truth pixels), and the sum of absolute differences (SAD) and
  mean squared error (MSE) over the pixels whose footprint holds no void.

Boundaries are "inner" boundaries: object pixels with a 4-neighbour outside the object. The
image border is not an object edge (a mask cut by the frame has no contour there), except in
Boundary IoU, whose reference implementation pads with background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.floating]

# The DAVIS tolerance the project reports: boundary pixels within 2 px match.
BOUNDARY_TOLERANCE_PX: Final = 2.0
# Boundary IoU's band width as a share of the image diagonal (the paper's default for
# COCO-sized images).
BOUNDARY_IOU_RATIO: Final = 0.02

_CROSS: Final = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True, slots=True)
class AlphaErrors:
    """SAD (sum over valid pixels) and MSE (mean over them) of an alpha in [0, 1]."""

    sad: float
    mse: float
    pixels: int


def mask_iou(pred: BoolArray, truth: BoolArray, void: BoolArray | None = None) -> float:
    """|pred ∩ truth| / |pred ∪ truth| over the non-void pixels; 1.0 when both are empty."""
    pred, truth, valid = _prepare(pred, truth, void)
    union = np.count_nonzero((pred | truth) & valid)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & truth & valid) / union)


def boundary(mask: BoolArray, *, frame_is_edge: bool = False) -> BoolArray:
    """Inner boundary: pixels of ``mask`` with a 4-neighbour outside it.

    Outside the image counts as object (``frame_is_edge=False``) or as background.
    """
    mask = np.asarray(mask, dtype=bool)
    eroded = ndimage.binary_erosion(mask, _CROSS, border_value=0 if frame_is_edge else 1)
    result: BoolArray = mask & ~eroded
    return result


def boundary_f(
    pred: BoolArray,
    truth: BoolArray,
    void: BoolArray | None = None,
    tolerance: float = BOUNDARY_TOLERANCE_PX,
) -> float:
    """DAVIS boundary F-measure: ``2PR / (P + R)`` with boundary pixels matched within
    ``tolerance`` pixels. Boundary pixels on void are not counted. 1.0 when neither mask has
    a boundary, 0.0 when only one has."""
    pred, truth, valid = _prepare(pred, truth, void)
    pred_edge = boundary(pred) & valid
    true_edge = boundary(truth) & valid
    n_pred, n_true = np.count_nonzero(pred_edge), np.count_nonzero(true_edge)
    if n_pred == 0 and n_true == 0:
        return 1.0
    if n_pred == 0 or n_true == 0:
        return 0.0
    precision = np.count_nonzero(pred_edge & (_distance_to(true_edge) <= tolerance)) / n_pred
    recall = np.count_nonzero(true_edge & (_distance_to(pred_edge) <= tolerance)) / n_true
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def boundary_band(mask: BoolArray, width: float) -> BoolArray:
    """Pixels of ``mask`` within ``width`` pixels of its contour (outside the image is
    background), as in Boundary IoU's ``mask_to_boundary``."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros_like(mask)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    band: BoolArray = mask & (inside <= width)
    return band


def boundary_iou(
    pred: BoolArray,
    truth: BoolArray,
    void: BoolArray | None = None,
    ratio: float = BOUNDARY_IOU_RATIO,
) -> float:
    """Boundary IoU: IoU of the two masks' inner bands of width ``max(1, ratio * diagonal)``,
    over non-void pixels. 1.0 when both bands are empty."""
    pred, truth, valid = _prepare(pred, truth, void)
    width = band_width(pred.shape, ratio)
    pred_band = boundary_band(pred, width) & valid
    true_band = boundary_band(truth, width) & valid
    union = np.count_nonzero(pred_band | true_band)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred_band & true_band) / union)


def band_width(shape: tuple[int, ...], ratio: float = BOUNDARY_IOU_RATIO) -> float:
    """Boundary IoU's band width in pixels for an image of ``shape``: at least 1."""
    return max(1.0, ratio * float(np.hypot(shape[0], shape[1])))


def coverage_alpha(
    truth: BoolArray, factor: int, void: BoolArray | None = None
) -> tuple[npt.NDArray[np.float32], BoolArray]:
    """The true coverage at ``1/factor`` scale and where it is valid.

    ``truth`` (``H x W``) is cropped to a multiple of ``factor`` and each ``factor x factor``
    block averaged. A block holding any void pixel is invalid. Returns ``(alpha, valid)``,
    both ``H // factor x W // factor``.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    truth = np.asarray(truth, dtype=bool)
    void = np.zeros_like(truth) if void is None else np.asarray(void, dtype=bool)
    if void.shape != truth.shape:
        raise ValueError(f"void has shape {void.shape}, expected {truth.shape}")
    alpha = _block_mean(truth, factor)
    valid: BoolArray = _block_mean(void, factor) == 0
    return alpha, valid


def alpha_errors(
    alpha: FloatArray, truth: FloatArray, valid: BoolArray | None = None
) -> AlphaErrors:
    """SAD and MSE of ``alpha`` against ``truth`` (both in [0, 1]) over ``valid`` pixels."""
    alpha = np.asarray(alpha, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if alpha.shape != truth.shape:
        raise ValueError(f"alpha has shape {alpha.shape}, expected {truth.shape}")
    mask = np.ones(alpha.shape, bool) if valid is None else np.asarray(valid, dtype=bool)
    diff = (alpha - truth)[mask]
    pixels = int(diff.size)
    if pixels == 0:
        return AlphaErrors(0.0, 0.0, 0)
    return AlphaErrors(float(np.abs(diff).sum()), float(np.mean(diff**2)), pixels)


def _block_mean(values: BoolArray, factor: int) -> npt.NDArray[np.float32]:
    height, width = (values.shape[0] // factor) * factor, (values.shape[1] // factor) * factor
    blocks = values[:height, :width].reshape(height // factor, factor, width // factor, factor)
    result: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3), dtype=np.float32)
    return result


def _distance_to(edge: BoolArray) -> npt.NDArray[np.float64]:
    """Euclidean distance of every pixel to the nearest pixel of ``edge`` (non-empty)."""
    distance: npt.NDArray[np.float64] = ndimage.distance_transform_edt(~edge)
    return distance


def _prepare(
    pred: BoolArray, truth: BoolArray, void: BoolArray | None
) -> tuple[BoolArray, BoolArray, BoolArray]:
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.ndim != 2 or pred.shape != truth.shape:
        raise ValueError(f"pred has shape {pred.shape}, truth {truth.shape}: need equal 2-D")
    valid = np.ones_like(truth) if void is None else ~np.asarray(void, dtype=bool)
    if valid.shape != truth.shape:
        raise ValueError(f"void has shape {valid.shape}, expected {truth.shape}")
    return pred, truth, valid
