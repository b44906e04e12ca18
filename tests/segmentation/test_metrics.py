"""segmentation.metrics on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation import metrics


def _box(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_iou_of_two_overlapping_squares() -> None:
    a = _box((10, 10), slice(0, 4), slice(0, 4))  # 16 px
    b = _box((10, 10), slice(2, 6), slice(2, 6))  # 16 px, 4 shared
    assert metrics.mask_iou(a, b) == pytest.approx(4 / 28)


def test_iou_leaves_void_out() -> None:
    a = _box((10, 10), slice(0, 4), slice(0, 4))
    b = _box((10, 10), slice(0, 4), slice(0, 2))  # a has 8 extra px, in columns 2-3
    void = _box((10, 10), slice(0, 10), slice(2, 4))
    assert metrics.mask_iou(a, b) == pytest.approx(0.5)
    assert metrics.mask_iou(a, b, void) == 1.0


def test_iou_of_two_empty_masks_is_one() -> None:
    empty = np.zeros((5, 5), bool)
    assert metrics.mask_iou(empty, empty) == 1.0


def test_boundary_is_the_inner_ring_and_not_the_frame() -> None:
    square = _box((7, 7), slice(1, 6), slice(1, 6))
    assert metrics.boundary(square).sum() == 16  # 5 x 5 minus the 3 x 3 inside
    full = np.ones((7, 7), bool)
    assert not metrics.boundary(full).any()
    assert metrics.boundary(full, frame_is_edge=True).sum() == 24


def test_boundary_f_is_one_for_a_shift_within_tolerance_and_falls_beyond() -> None:
    truth = _box((40, 40), slice(10, 30), slice(10, 30))
    shifted_2 = _box((40, 40), slice(12, 32), slice(10, 30))  # 2 px down
    assert metrics.boundary_f(shifted_2, truth, tolerance=2) == 1.0
    shifted_3 = _box((40, 40), slice(13, 33), slice(10, 30))
    # Top and bottom rows (20 px each of a 76 px ring) are 3 px away; the side columns'
    # pixels are all within 2 px of the other side column, except 1 px at each end.
    f = metrics.boundary_f(shifted_3, truth, tolerance=2)
    assert 0.4 < f < 0.8
    assert metrics.boundary_f(shifted_3, truth, tolerance=3) == 1.0


def test_boundary_f_of_a_missing_object_is_zero() -> None:
    truth = _box((20, 20), slice(5, 15), slice(5, 15))
    assert metrics.boundary_f(np.zeros_like(truth), truth) == 0.0


def test_boundary_band_width() -> None:
    square = _box((20, 20), slice(2, 18), slice(2, 18))  # 16 x 16
    band = metrics.boundary_band(square, 2)
    assert band.sum() == 16 * 16 - 12 * 12  # a ring 2 px deep


def test_boundary_iou_equal_masks_one_disjoint_zero() -> None:
    a = _box((50, 50), slice(5, 25), slice(5, 25))
    b = _box((50, 50), slice(30, 45), slice(30, 45))
    assert metrics.boundary_iou(a, a) == 1.0
    assert metrics.boundary_iou(a, b) == 0.0


def test_boundary_iou_is_stricter_than_mask_iou_on_a_shift() -> None:
    """A one-pixel shift of a large object barely moves mask IoU; Boundary IoU sees it."""
    truth = _box((100, 100), slice(10, 90), slice(10, 90))
    shifted = _box((100, 100), slice(11, 91), slice(10, 90))  # 1 px down
    assert metrics.mask_iou(shifted, truth) > 0.97
    assert metrics.boundary_iou(shifted, truth) < metrics.mask_iou(shifted, truth)
    assert metrics.band_width((100, 100)) == pytest.approx(0.02 * np.hypot(100, 100))


def test_coverage_alpha_averages_blocks_and_voids_them() -> None:
    truth = np.zeros((4, 5), bool)
    truth[0, 0] = True
    truth[2:4, 2:4] = True
    void = np.zeros_like(truth)
    void[3, 0] = True
    alpha, valid = metrics.coverage_alpha(truth, 2, void)
    np.testing.assert_allclose(alpha, [[0.25, 0.0], [0.0, 1.0]])  # column 4 cropped
    np.testing.assert_array_equal(valid, [[True, True], [False, True]])


def test_alpha_errors() -> None:
    truth = np.array([[0.0, 0.5], [1.0, 1.0]])
    alpha = np.array([[0.0, 1.0], [1.0, 0.0]])
    errors = metrics.alpha_errors(alpha, truth)
    assert errors.sad == pytest.approx(1.5)
    assert errors.mse == pytest.approx((0.25 + 1.0) / 4)
    masked = metrics.alpha_errors(alpha, truth, np.array([[True, True], [True, False]]))
    assert masked.sad == pytest.approx(0.5)
    assert masked.pixels == 3


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics.mask_iou(np.zeros((3, 3), bool), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="shape"):
        metrics.alpha_errors(np.zeros((2, 2)), np.zeros((2, 3)))
