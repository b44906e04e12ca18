"""segmentation.edgeband: the edge-only CRF that moves the 0.5 line onto the colour edge."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from segmentation import crf, edgeband
from segmentation.options import EdgeBandParams

RED = (200, 40, 40)
BLUE = (40, 40, 200)
GREEN = (40, 200, 40)
BAND = EdgeBandParams()


def _noisy(rgb: np.ndarray, seed: int = 0, sigma: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)


def _disc_photo(radius: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy red disc (centre 60, 80) on blue, 120 x 160, and its true mask."""
    yy, xx = np.mgrid[:120, :160]
    truth = np.hypot(yy - 60, xx - 80) <= radius
    rgb = np.empty((120, 160, 3))
    rgb[:] = BLUE
    rgb[truth] = RED
    return _noisy(rgb), truth


def _ramp_probability(radius: float, width: float = 8.0) -> np.ndarray:
    """A network-like probability of a disc of ``radius``: 0.5 on its rim, a smooth ramp."""
    yy, xx = np.mgrid[:120, :160]
    distance = radius - np.hypot(yy - 60, xx - 80)
    return (1.0 / (1.0 + np.exp(-distance / (width / 4)))).astype(np.float32)


@pytest.mark.parametrize("shift", [-(BAND.width_px - 1), -2, 2, BAND.width_px - 1])
def test_the_edge_moves_onto_the_colour_edge(shift: int) -> None:
    """The probability's 0.5 line is a few px (within the band) off the red disc's rim:
    after the band pass the mask is the disc up to a few noisy pixels (photo noise 10, well within
    the bilateral kernel's colour width), where before it missed a whole ring. (Radius 40:
    shrinking by 3 px keeps 85 % of the area, above the area guard's 80 %.)"""
    rgb, truth = _disc_photo(radius=40.0)
    prob = _ramp_probability(radius=40.0 + shift)
    before = prob > 0.5
    after = edgeband.refine_edge(rgb, prob, BAND) > 0.5
    wrong_before = np.count_nonzero(before ^ truth)
    wrong_after = np.count_nonzero(after ^ truth)
    assert wrong_before > 2 * np.pi * 40 * (abs(shift) - 1)  # a ring of misplaced pixels
    assert wrong_after < 0.05 * wrong_before  # a few noisy pixels, not a ring


def test_pixels_outside_the_band_never_change() -> None:
    rgb, _ = _disc_photo(radius=40.0)
    prob = _ramp_probability(radius=44.0)
    refined = edgeband.refine_edge(rgb, prob, BAND)
    inside = prob > 0.5
    distance = np.where(
        inside, ndimage.distance_transform_edt(inside), ndimage.distance_transform_edt(~inside)
    )
    far = distance > BAND.width_px
    assert far.sum() > 0.8 * prob.size
    np.testing.assert_array_equal(refined[far], prob[far])
    assert refined.dtype == np.float32
    assert not np.shares_memory(refined, prob)
    # ... and inside the band something did change (the 4 px ring outside the disc).
    assert np.count_nonzero(refined[~far] != prob[~far]) > 100


def test_the_object_is_never_removed() -> None:
    """A faint small object in a photo of one colour: nothing in the photo supports it, the
    pinned background all round would swallow it, so the area guard keeps the input."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(100, 110, (60, 60, 3), dtype=np.uint8)
    prob = np.zeros((60, 60), np.float32)
    prob[27:33, 27:33] = 0.55
    swallowing = dataclasses.replace(BAND, bilateral_compat=50.0, min_area_ratio=0.0)
    assert not np.any(edgeband.refine_edge(rgb, prob, swallowing) > 0.5)  # what the guard stops
    guarded = edgeband.refine_edge(rgb, prob, BAND)
    np.testing.assert_array_equal(guarded, prob)


def test_nothing_to_refine_without_an_edge() -> None:
    rgb, _ = _disc_photo()
    for value in (0.2, 0.9):
        prob = np.full((120, 160), value, np.float32)
        np.testing.assert_array_equal(edgeband.refine_edge(rgb, prob, BAND), prob)


def test_bad_arguments_are_refused_with_the_value_received() -> None:
    rgb, _ = _disc_photo()
    prob = _ramp_probability(30.0)
    with pytest.raises(ValueError, match=r"prob has shape \(10, 10\)"):
        edgeband.refine_edge(rgb, prob[:10, :10], BAND)
    with pytest.raises(ValueError, match="rgb must be an H x W x 3 uint8 array"):
        edgeband.refine_edge(rgb.astype(np.float32), prob, BAND)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"got 0, {BAND.halo_px}"):
        edgeband.refine_edge(rgb, prob, dataclasses.replace(BAND, width_px=0))


def test_the_deeplab_preset_runs_the_band_after_the_region_crf() -> None:
    """A sharp but misplaced network edge (DeepLab's): the region CRF's confidence gate keeps
    it where the network put it, the tuned preset's band moves it onto the colour edge; the
    seed's preset has no band."""
    rgb, truth = _disc_photo(radius=40.0)
    prob = _ramp_probability(radius=43.0, width=4.0)
    probs = np.stack([1.0 - prob, prob], axis=-1)
    tuned = crf.preset("tuned", "deeplabv3_mnv2_pascal_quant.tflite")
    assert tuned.edge_band is not None
    assert crf.preset("seed").edge_band is None
    without = crf.refine_classes(rgb, probs, 1, dataclasses.replace(tuned, edge_band=None))
    with_band = crf.refine_classes(rgb, probs, 1, tuned)
    assert np.count_nonzero((with_band > 0.5) ^ truth) < 0.5 * np.count_nonzero(
        (without > 0.5) ^ truth
    )


def test_the_edge_against_another_object_is_left_to_the_region_crf() -> None:
    """A red object (class 1) beside a green one (class 2) on blue; the network's class-1 edge
    is 3 px off on both sides. The band moves the edge against the background onto the
    colour edge, and leaves the edge against the other object where it was."""
    rgb = np.empty((120, 160, 3))
    rgb[:] = BLUE
    rgb[30:90, 20:80] = RED
    rgb[30:90, 80:140] = GREEN
    rgb = _noisy(rgb)
    rows, cols = np.mgrid[:120, :160]
    one = (rows >= 27) & (rows < 90) & (cols >= 20) & (cols < 83)  # 3 px too high and right
    two = (rows >= 30) & (rows < 90) & (cols >= 83) & (cols < 140)
    probs = np.full((120, 160, 3), 0.02, np.float32)
    probs[..., 0] = np.where(one | two, 0.02, 0.96)
    probs[..., 1] = np.where(one, 0.96, 0.02)
    probs[..., 2] = np.where(two, 0.96, 0.02)
    probs = ndimage.gaussian_filter(probs, sigma=(2, 2, 0))  # the network's soft ramp
    prob = crf.target_probability(probs, 1)
    band = dataclasses.replace(BAND, min_area_ratio=0.0)
    refined = crf.refine_edge(rgb, probs, 1, prob, band, [0, 2], (0, 120, 0, 160))
    top_rows = refined[27:30, 30:70]
    assert np.count_nonzero(top_rows < 0.5) > 0.95 * top_rows.size  # background now
    against_two = (slice(40, 80), slice(80, 83))
    np.testing.assert_array_equal(refined[against_two], prob[against_two])
    unfrozen = edgeband.refine_edge(rgb, prob, band)
    assert np.count_nonzero(unfrozen[27:30, 30:70] < 0.5) > 0.95 * top_rows.size
    assert np.count_nonzero(unfrozen[against_two] < 0.5) > 0.9 * 40 * 3  # what freezing stops


def test_a_band_larger_than_max_pixels_is_not_run() -> None:
    """A fragmented mask (a checkerboard of 4 px cells) has a band over the whole photo."""
    rgb, _ = _disc_photo()
    rows, cols = np.mgrid[:120, :160]
    prob = np.where((rows // 4 + cols // 4) % 2 == 0, 0.9, 0.1).astype(np.float32)
    np.testing.assert_array_equal(
        edgeband.refine_edge(rgb, prob, dataclasses.replace(BAND, max_pixels=10_000)), prob
    )
    assert np.any(edgeband.refine_edge(rgb, prob, BAND) != prob)  # under the limit: it runs
