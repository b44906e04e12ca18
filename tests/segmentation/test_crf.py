"""segmentation.crf: the region-restricted two-label CRF and the seed's full-image CRF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from skimage.filters import gaussian

from segmentation import crf
from segmentation.crf import (
    object_region,
    refine,
    refine_classes,
    refine_full,
    target_probability,
)
from segmentation.options import CrfParams

RED = (200, 40, 40)
BLUE = (40, 40, 200)
GREEN = (40, 200, 40)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _noisy(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)


def _coarse(truth: np.ndarray, shift: int = 6, sigma: float = 3.0) -> np.ndarray:
    """A network-like probability map: misregistered by ``shift`` px, blurred, unsure."""
    moved = np.roll(truth, (shift, shift), axis=(0, 1)).astype(np.float64)
    return (0.1 + 0.8 * gaussian(moved, sigma=sigma)).astype(np.float32)


@pytest.fixture
def red_square() -> tuple[np.ndarray, np.ndarray]:
    """A noisy red rectangle (rows 40-80, columns 50-100) on blue, and its true mask."""
    rgb = np.empty((120, 160, 3))
    rgb[:] = BLUE
    truth = np.zeros((120, 160), dtype=bool)
    truth[40:80, 50:100] = True
    rgb[truth] = RED
    return _noisy(rgb), truth


def test_refine_snaps_a_shifted_blurred_mask_to_the_colour_edge(
    red_square: tuple[np.ndarray, np.ndarray],
) -> None:
    rgb, truth = red_square
    prob = _coarse(truth)

    refined = refine(rgb, prob)

    assert refined.shape == prob.shape
    assert refined.dtype == np.float32
    assert np.all((refined >= 0) & (refined <= 1))
    before, after = _iou(prob > 0.5, truth), _iou(refined > 0.5, truth)
    assert before < 0.7
    assert after > 0.95
    assert after > before + 0.25


def test_refine_a_half_and_half_image() -> None:
    rgb = np.empty((100, 160, 3))
    rgb[:, :80] = RED
    rgb[:, 80:] = BLUE
    truth = np.zeros((100, 160), dtype=bool)
    truth[:, :80] = True
    columns = np.arange(160)
    # The network believes the edge is 12 px to the right, with a soft transition.
    prob = np.tile(1 / (1 + np.exp((columns - 92) / 5)), (100, 1)).astype(np.float32)

    refined = refine(_noisy(rgb), prob)

    assert _iou(prob > 0.5, truth) < 0.9
    assert _iou(refined > 0.5, truth) > 0.98


def test_refine_leaves_everything_outside_the_region_unchanged(
    red_square: tuple[np.ndarray, np.ndarray],
) -> None:
    rgb, truth = red_square
    prob = _coarse(truth)
    rng = np.random.default_rng(1)
    prob += rng.uniform(0, 0.3, prob.shape).astype(np.float32)  # below 0.5 far away
    params = CrfParams(margin=0.25, min_margin_px=4)

    refined = refine(rgb, prob, params)

    region = object_region(prob, params)
    assert region is not None
    top, bottom, left, right = region
    outside = np.ones(prob.shape, dtype=bool)
    outside[top:bottom, left:right] = False
    assert outside.any()
    np.testing.assert_array_equal(refined[outside], prob[outside])
    assert not np.array_equal(refined[~outside], prob[~outside])


def test_a_large_region_runs_shrunk_and_matches_the_full_resolution_crf(
    red_square: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    rgb, truth = red_square
    prob = _coarse(truth)
    region = object_region(prob)
    assert region is not None
    region_pixels = (region[1] - region[0]) * (region[3] - region[2])
    seen: list[tuple[tuple[int, ...], float, float]] = []
    infer = crf._infer

    def spy(rgb: np.ndarray, probs: np.ndarray, params: CrfParams) -> np.ndarray:
        seen.append((rgb.shape, params.gaussian_sxy, params.bilateral_sxy))
        return infer(rgb, probs, params)

    monkeypatch.setattr(crf, "_infer", spy)
    full = refine(rgb, prob, max_pixels=None)
    shrunk = refine(rgb, prob, max_pixels=region_pixels // 4)

    (full_shape, *full_sxy), (small_shape, *small_sxy) = seen
    assert full_shape[0] * full_shape[1] == region_pixels
    # Half the side (a quarter of the pixels), and the kernels' widths halved with it.
    assert small_shape[0] == pytest.approx(full_shape[0] / 2, abs=1)
    assert small_shape[1] == pytest.approx(full_shape[1] / 2, abs=1)
    np.testing.assert_allclose(small_sxy, np.array(full_sxy) / 2, rtol=0.01)
    assert shrunk.shape == prob.shape
    assert shrunk.dtype == np.float32
    assert _iou(shrunk > 0.5, full > 0.5) > 0.95
    assert _iou(shrunk > 0.5, truth) > 0.93


def test_a_small_region_runs_at_full_resolution(
    red_square: tuple[np.ndarray, np.ndarray],
) -> None:
    rgb, truth = red_square
    prob = _coarse(truth)
    np.testing.assert_array_equal(refine(rgb, prob), refine(rgb, prob, max_pixels=None))
    with pytest.raises(ValueError, match="max_pixels"):
        refine(rgb, prob, max_pixels=0)


def test_object_region_grows_the_box_by_the_margin_and_clips() -> None:
    prob = np.zeros((200, 300), dtype=np.float32)
    prob[50:90, 100:200] = 0.9  # 40 high, 100 wide
    # margin 0.25: 10 px vertically (40 * 0.25), 25 px horizontally (100 * 0.25).
    assert object_region(prob, CrfParams(margin=0.25, min_margin_px=0)) == (40, 100, 75, 225)
    # ... at least min_margin_px on each side
    assert object_region(prob, CrfParams(margin=0.25, min_margin_px=16)) == (34, 106, 75, 225)
    # ... clipped to the image
    assert object_region(prob, CrfParams(margin=2.0, min_margin_px=0)) == (0, 170, 0, 300)


def test_refine_returns_a_prob_without_object_unchanged() -> None:
    rgb = _noisy(np.full((40, 50, 3), 128.0))
    prob = np.random.default_rng(2).uniform(0, 0.5, (40, 50)).astype(np.float32)
    assert object_region(prob) is None
    refined = refine(rgb, prob)
    np.testing.assert_array_equal(refined, prob)
    assert refined is not prob  # a copy: the caller's array is never aliased


def test_refine_accepts_hard_probabilities_and_read_only_input(
    red_square: tuple[np.ndarray, np.ndarray],
) -> None:
    rgb, truth = red_square
    rgb.setflags(write=False)  # as np.asarray(PIL image) gives
    prob = np.roll(truth, (3, 3), axis=(0, 1)).astype(np.float32)  # exact 0 and 1

    refined = refine(rgb, prob, CrfParams(margin=5.0))  # the region is the whole image

    assert np.isfinite(refined).all()
    # Clipped, not infinite: the pairwise terms can still move a hard label (0.77 -> 0.82).
    assert _iou(refined > 0.5, truth) > _iou(prob > 0.5, truth) + 0.02


def test_refine_rejects_mismatched_shapes(red_square: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, truth = red_square
    with pytest.raises(ValueError, match="shape"):
        refine(rgb, truth[:-1].astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        refine(rgb.astype(np.float32), truth.astype(np.float32))


def _three_class_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red object (class 1) touching a green one (class 2) on blue (class 0): the photo,
    the true labels and a coarse 4-class probability map (class 3 never wins)."""
    rgb = np.empty((110, 150, 3))
    rgb[:] = BLUE
    truth = np.zeros((110, 150), dtype=np.int64)
    truth[25:85, 20:75] = 1
    truth[35:95, 75:130] = 2
    rgb[truth == 1] = RED
    rgb[truth == 2] = GREEN
    coarse = [_coarse(truth == label, shift=5) for label in range(3)]
    coarse.append(np.full(truth.shape, 0.02, np.float32))
    probs = np.stack(coarse, axis=-1)
    return _noisy(rgb), truth, probs / probs.sum(axis=-1, keepdims=True)


def test_refine_full_labels_every_class() -> None:
    rgb, truth, probs = _three_class_scene()

    labels = refine_full(rgb, probs)

    assert labels.shape == truth.shape
    assert labels.dtype == np.int64
    before = float((probs.argmax(axis=-1) == truth).mean())
    after = float((labels == truth).mean())
    assert before < 0.9
    assert after > 0.99


def test_crf_improves_the_seed_cat_annotation(shared_fixtures: Path) -> None:
    """The seed post's own pair: a coarse, misregistered cat mask snaps back to the cats."""
    folder = shared_fixtures / "seed_cat"
    rgb = np.asarray(Image.open(folder / "cat.jpg").convert("RGB"))
    truth = np.asarray(Image.open(folder / "cat_annotation.png"))[..., 0] > 0
    height, width = truth.shape
    # Degrade like a stride-8 network: misregistered by 4 px, sampled every 8 px,
    # bilinearly upsampled and blurred.
    moved = np.roll(truth, (4, 4), axis=(0, 1)).astype(np.float32)
    sampled = Image.fromarray(moved).resize((width // 8, height // 8), Image.Resampling.NEAREST)
    upsampled = np.asarray(sampled.resize((width, height), Image.Resampling.BILINEAR))
    prob = gaussian(upsampled, sigma=2).astype(np.float32)

    refined = refine(rgb, prob)

    before, after = _iou(prob > 0.5, truth), _iou(refined > 0.5, truth)
    assert after > before + 0.02, (before, after)


@given(arrays(np.float32, (6, 21), elements=st.floats(2**-10, 1.0, width=32)), st.integers(0, 20))
def test_two_label_probability_agrees_with_argmax(raw: np.ndarray, index: int) -> None:
    probs = raw / raw.sum(-1, keepdims=True)
    two_label = target_probability(probs, index)
    is_max = probs[:, index] >= np.delete(probs, index, axis=-1).max(-1)
    clear = np.abs(two_label - 0.5) > 1e-5
    np.testing.assert_array_equal((two_label > 0.5)[clear], is_max[clear])


# --- refine_classes: the classes that compete in the region ---------------------------------


def test_refine_classes_matches_the_full_crf_where_objects_touch() -> None:
    rgb, truth, probs = _three_class_scene()
    refined = refine_classes(rgb, probs, 1, max_pixels=None)
    seed = refine_full(rgb, probs) == 1
    assert refined.shape == truth.shape
    assert refined.dtype == np.float32
    assert _iou(refined > 0.5, seed) > 0.97
    assert _iou(refined > 0.5, truth == 1) > 0.9
    assert _iou(probs.argmax(-1) == 1, truth == 1) < 0.85  # the CRF did the work


def test_refine_classes_runs_one_label_per_class_winning_in_the_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rgb, _, probs = _three_class_scene()
    seen: list[int] = []
    infer = crf._infer

    def spy(rgb: np.ndarray, unary: np.ndarray, params: CrfParams) -> np.ndarray:
        seen.append(unary.shape[0])
        return infer(rgb, unary, params)

    monkeypatch.setattr(crf, "_infer", spy)
    refine_classes(rgb, probs, 1)
    assert seen == [3]  # red, green, blue; the class that wins nowhere is left out
    alone = probs.copy()
    alone[..., 2] = 0.0  # no green rival: target vs background only
    refine_classes(rgb, alone / alone.sum(-1, keepdims=True), 1)
    assert seen == [3, 2]


def test_refine_classes_keeps_the_network_outside_the_region() -> None:
    rgb, _, probs = _three_class_scene()
    refined = refine_classes(rgb, probs, 1, CrfParams(margin=0.0, min_margin_px=2))
    two_label = target_probability(probs, 1)
    top, bottom, left, right = object_region(two_label, CrfParams(margin=0.0, min_margin_px=2))
    outside = np.ones(two_label.shape, bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(refined[outside], two_label[outside])
    absent = refine_classes(rgb, probs, 3)  # class 3 wins nowhere: nothing to refine
    np.testing.assert_array_equal(absent, target_probability(probs, 3))


def test_refine_classes_when_the_target_wins_the_whole_region() -> None:
    rgb = _noisy(np.full((40, 50, 3), RED, np.float64))
    probs = np.zeros((40, 50, 3), np.float32)
    probs[..., 1], probs[..., 2], probs[..., 0] = 0.7, 0.2, 0.1
    refined = refine_classes(rgb, probs, 1)
    assert (refined > 0.5).all()


@pytest.mark.parametrize(
    ("probs_shape", "target", "message"),
    [
        ((40, 50), 1, "probs has shape"),
        ((40, 49, 3), 1, "probs has shape"),
        ((40, 50, 3), 3, "0..2"),
    ],
)
def test_refine_classes_rejects_bad_arguments(
    probs_shape: tuple[int, ...], target: int, message: str
) -> None:
    rgb = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        refine_classes(rgb, np.zeros(probs_shape, np.float32), target)


@pytest.mark.slow
def test_refine_classes_agrees_with_the_seeds_crf_on_a_rider_and_bicycle(
    deeplab_model_path: Path, shared_fixtures: Path
) -> None:
    """VOC 2007_000129: a person on a bicycle. Target-vs-rest merged the bicycle into the
    background and lost 5 points of IoU against the seed's 21-label CRF (0.943)."""
    from segmentation.image import load_image, resize_longer_side
    from segmentation.segmenter import load_segmenter

    data = (shared_fixtures / "voc_2007_000129" / "image.jpg").read_bytes()
    rgb = resize_longer_side(load_image(data), 512)
    probs = load_segmenter(str(deeplab_model_path)).predict(rgb)
    person = 15
    seed = refine_full(rgb, probs) == person
    assert _iou(refine_classes(rgb, probs, person) > 0.5, seed) >= 0.97


# --- presets, confidence gate, area guard -----------------------------------------------------


def test_presets_by_name_and_backend() -> None:
    from segmentation import crf

    assert crf.preset("seed") == CrfParams()
    assert crf.preset("tuned", "deeplabv3_mnv2_pascal_quant.tflite") == crf.PRESETS["deeplab"]
    assert crf.preset("tuned", "fcn8s-int8-dynamic") == crf.PRESETS["fcn8s"]
    assert crf.PRESETS["deeplab"] != crf.PRESETS["seed"]
    assert set(crf.preset_names()) >= {"tuned", "seed", "deeplab", "fcn8s"}
    with pytest.raises(ValueError, match="'nope'"):
        crf.preset("nope")


def test_constrain_keeps_confident_pixels_and_lets_the_uncertain_band_change() -> None:
    from segmentation.crf import constrain

    network = np.array([[0.99, 0.6, 0.4, 0.01]], np.float32)
    refined = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    gated = constrain(network, refined, CrfParams(gate=0.9))
    np.testing.assert_allclose(gated, [[0.99, 0.0, 1.0, 0.01]], rtol=1e-6)
    np.testing.assert_array_equal(constrain(network, refined, CrfParams()), refined)


def test_constrain_refuses_a_crf_that_takes_most_of_the_object() -> None:
    from segmentation.crf import constrain

    network = np.zeros((10, 10), np.float32)
    network[2:8, 2:8] = 0.8  # 36 px
    shrunk = np.zeros_like(network)
    shrunk[3:7, 3:7] = 0.9  # 16 px: less than 80 %
    guarded = CrfParams(min_area_ratio=0.8)
    np.testing.assert_array_equal(constrain(network, shrunk, guarded), network)
    snapped = network.copy()
    snapped[2, 2:8] = 0.1  # 30 px: a snapped edge is fine
    np.testing.assert_array_equal(constrain(network, snapped, guarded), snapped)


def test_the_tuned_preset_never_removes_a_faint_thin_object() -> None:
    """The seed's strong smoothing erases a thin, faint object; the tuned preset's area
    guard keeps the network's instead."""
    from segmentation import crf

    rng = np.random.default_rng(3)
    rgb = rng.integers(90, 140, (80, 120, 3), dtype=np.uint8)
    probs = np.zeros((80, 120, 2), np.float32)
    probs[..., 0] = 0.9
    probs[38:42, 10:110, 0] = 0.35  # a 4 px line the network is not too sure of
    probs[..., 1] = 1.0 - probs[..., 0]
    seed = crf.refine_classes(rgb, probs, 1, crf.preset("seed"))
    tuned = crf.refine_classes(rgb, probs, 1, crf.preset("tuned"))
    network = crf.target_probability(probs, 1) > 0.5
    assert (seed > 0.5).sum() < 0.8 * network.sum()  # what the guard is for
    assert (tuned > 0.5).sum() >= 0.8 * network.sum()
