"""segmentation.contour: object selection and the erosion band."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation.contour import contour_band, select_object


def _blank(height: int = 60, width: int = 80) -> np.ndarray:
    return np.zeros((height, width), dtype=bool)


# --- select_object --------------------------------------------------------------------------


def test_keeps_the_largest_piece_and_comparable_ones_only() -> None:
    mask = _blank()
    mask[5:35, 5:35] = True  # 900 px: the object
    mask[40:50, 40:50] = True  # 100 px: 11 % of it, kept at ratio 0.1
    mask[50:55, 70:75] = True  # 25 px: 3 %, a speck
    selected = select_object(mask, min_component_ratio=0.1, max_hole_ratio=0.0)

    expected = mask.copy()
    expected[50:55, 70:75] = False
    np.testing.assert_array_equal(selected, expected)
    # A stricter ratio keeps the largest piece alone.
    strict = select_object(mask, min_component_ratio=0.5, max_hole_ratio=0.0)
    np.testing.assert_array_equal(strict, np.pad(np.ones((30, 30), bool), ((5, 25), (5, 45))))


def test_pieces_touching_at_a_corner_are_one_object() -> None:
    mask = _blank()
    mask[10:30, 10:30] = True
    mask[30:34, 30:34] = True  # touches the big square only diagonally
    selected = select_object(mask, min_component_ratio=0.5, max_hole_ratio=0.0)
    np.testing.assert_array_equal(selected, mask)


def test_fills_small_holes_but_not_large_ones_nor_border_notches() -> None:
    mask = _blank()
    mask[0:50, 10:60] = True  # touches the top edge of the image
    mask[10:12, 20:22] = False  # 4 px hole: < 1 % of the object
    mask[25:40, 30:45] = False  # 225 px hole: 9 % of the object
    mask[0:2, 50:52] = False  # 4 px notch open to the image border: not a hole
    selected = select_object(mask, min_component_ratio=0.1, max_hole_ratio=0.01)

    expected = mask.copy()
    expected[10:12, 20:22] = True
    np.testing.assert_array_equal(selected, expected)


def test_empty_mask_selects_nothing() -> None:
    selected = select_object(_blank(), min_component_ratio=0.1, max_hole_ratio=0.01)
    assert selected.shape == (60, 80)
    assert selected.dtype == bool
    assert not selected.any()


def test_select_object_does_not_modify_its_input() -> None:
    mask = _blank()
    mask[10:40, 10:40] = True
    mask[20:22, 20:22] = False
    mask[50:52, 70:72] = True
    before = mask.copy()
    select_object(mask, min_component_ratio=0.5, max_hole_ratio=0.5)
    np.testing.assert_array_equal(mask, before)


# --- contour_band ---------------------------------------------------------------------------


def test_band_of_a_square_is_its_inner_ring() -> None:
    mask = _blank(40, 40)
    mask[10:30, 10:30] = True
    band = contour_band(mask, 5)  # a 5x5 erosion peels 2 px off each side

    expected = mask.copy()
    expected[12:28, 12:28] = False
    np.testing.assert_array_equal(band, expected)


def test_object_touching_the_border_gets_a_band_there() -> None:
    mask = _blank(40, 40)
    mask[:, :20] = True  # the left half, touching three image edges
    band = contour_band(mask, 5)
    assert band[:, 0:2].all()  # along the left edge
    assert band[0:2, :20].all()  # along the top edge
    assert band[-2:, :20].all()  # along the bottom edge
    assert band[:, 18:20].all()  # along the inner edge
    assert not band[2:-2, 2:18].any()


@pytest.mark.parametrize("width", [2, 3, 4, 5, 8])
def test_band_matches_erosion_with_a_background_border(width: int) -> None:
    rng = np.random.default_rng(width)
    mask = ndimage.binary_opening(rng.random((70, 90)) > 0.35, iterations=2)
    square = np.ones((width, width), dtype=bool)
    reference = mask & ~ndimage.binary_erosion(mask, structure=square, border_value=0)
    band = contour_band(mask, width)
    # Chessboard distance to the background, counting outside the image as background.
    distance = ndimage.distance_transform_cdt(np.pad(mask, 1), metric="chessboard")[1:-1, 1:-1]
    assert band.any()
    assert mask[band].all()  # only object pixels ...
    assert distance[band].max() <= width // 2  # ... within width // 2 of the edge
    if width % 2:
        np.testing.assert_array_equal(band, reference)
        np.testing.assert_array_equal(band, mask & (distance <= width // 2))
    else:  # an even square has no centre: the band is shifted by a pixel against scipy's
        assert band.sum() == reference.sum()


@pytest.mark.parametrize("width", [0, 1])
def test_degenerate_widths_give_no_band(width: int) -> None:
    mask = _blank()
    mask[10:20, 10:20] = True
    assert not contour_band(mask, width).any()


def test_negative_width_is_refused() -> None:
    with pytest.raises(ValueError, match="-3"):
        contour_band(_blank(), -3)
