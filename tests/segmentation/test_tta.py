"""Test-time augmentation (segmentation.tta): mirrored and rescaled views, tiled windows for
fixed-input models, averaged probabilities."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segmentation.backends.probabilities import softmax
from segmentation.classes import NUM_CLASSES, VOC_CLASSES, class_index
from segmentation.options import StickerOptions, TtaOptions
from segmentation.pipeline import make_sticker
from segmentation.segmenter import Segmenter, load_segmenter
from segmentation.tta import (
    TtaSegmenter,
    describe_tta,
    native_input_size,
    parse_tta,
    predict_tiled,
    window_starts,
)
from tests.conftest import encode


class RampSegmenter:
    """Not mirror-symmetric: 'cat' gets a logit that grows with the column, so a photo and
    its mirror image give different answers. Fully convolutional (no ``input_size``)."""

    name = "ramp-standin"
    backend = "standin"
    precision = "fp32"
    device = "CPU"
    classes = VOC_CLASSES

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def warmup(self) -> None:
        self.predict(np.zeros((8, 8, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.shapes.append((rgb.shape[0], rgb.shape[1]))
        h, w = rgb.shape[:2]
        logits = np.zeros((h, w, NUM_CLASSES), np.float32)
        logits[..., class_index("cat")] = np.linspace(-3.0, 3.0, w, dtype=np.float32)
        logits[..., class_index("dog")] = rgb[..., 0].astype(np.float32) / 64.0
        return softmax(logits)


class PixelwiseSegmenter:
    """A fixed 32 x 48 input, each pixel's answer from its own colour alone: translation
    equivariant, so windows of a larger photo must reassemble the whole-photo answer."""

    name = "pixelwise-standin"
    backend = "standin"
    precision = "fp32"
    device = "CPU"
    classes = VOC_CLASSES
    input_size = (32, 48)

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    @property
    def calls(self) -> int:
        return len(self.shapes)

    def warmup(self) -> None:
        self.predict(np.zeros((32, 48, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.shapes.append((rgb.shape[0], rgb.shape[1]))
        return self.pixelwise(rgb)

    @staticmethod
    def pixelwise(rgb: np.ndarray) -> np.ndarray:
        pixels = rgb.astype(np.float32) / 32.0
        logits = np.zeros((*rgb.shape[:2], NUM_CLASSES), np.float32)
        logits[..., 1:4] = pixels
        logits[..., 5] = pixels[..., 0] * pixels[..., 1] / 8.0
        return softmax(logits)


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_wrapper_satisfies_the_segmenter_protocol() -> None:
    inner = RampSegmenter()
    tta = TtaSegmenter(inner, TtaOptions(flip=True))
    assert isinstance(tta, Segmenter)
    assert (tta.name, tta.backend, tta.classes) == (inner.name, inner.backend, inner.classes)


def test_flip_averages_the_view_and_its_mirror_image() -> None:
    inner = RampSegmenter()
    rgb = _photo(20, 31)
    tta = TtaSegmenter(inner, TtaOptions(flip=True))
    got = tta.predict(rgb)
    plain = inner.predict(rgb)
    mirrored = inner.predict(np.ascontiguousarray(rgb[:, ::-1]))[:, ::-1]
    np.testing.assert_allclose(got, (plain + mirrored) / 2, atol=1e-6)
    assert not np.allclose(plain, got)
    # On a mirror-symmetric photo the averaged answer is mirror-symmetric too.
    half = _photo(20, 16)
    symmetric = np.concatenate([half, half[:, ::-1]], axis=1)
    probs = tta.predict(symmetric)
    np.testing.assert_allclose(probs, probs[:, ::-1], atol=1e-6)


def test_log_average_is_the_normalised_geometric_mean() -> None:
    inner = RampSegmenter()
    rgb = _photo(12, 17)
    got = TtaSegmenter(inner, TtaOptions(flip=True, average="log")).predict(rgb)
    plain = inner.predict(rgb)
    mirrored = inner.predict(np.ascontiguousarray(rgb[:, ::-1]))[:, ::-1]
    expected = np.sqrt(plain * mirrored)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("average", ["prob", "log"])
@pytest.mark.parametrize(("height", "width"), [(37, 53), (101, 67), (1, 9)])
def test_probabilities_sum_to_one_at_the_input_shape(average: str, height: int, width: int) -> None:
    options = TtaOptions((0.75, 1.0, 1.5, 2.0), flip=True, tile_overlap=8, average=average)
    for inner in (RampSegmenter(), PixelwiseSegmenter()):
        probs = TtaSegmenter(inner, options).predict(_photo(height, width))
        assert probs.shape == (height, width, NUM_CLASSES)
        assert probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        assert probs.min() >= 0.0


def test_a_fully_convolutional_model_takes_each_scale_whole() -> None:
    inner = RampSegmenter()
    tta = TtaSegmenter(inner, TtaOptions(scales=(1.0, 1.5, 2.0), flip=True))
    tta.predict(_photo(40, 30))
    assert inner.shapes == [(40, 30), (40, 30), (60, 45), (60, 45), (80, 60), (80, 60)]
    assert tta.passes(40, 30) == 6


@pytest.mark.parametrize(("height", "width"), [(32, 48), (70, 48), (95, 131), (20, 200)])
@pytest.mark.parametrize("overlap", [0, 8, 16])
def test_windows_reassemble_a_translation_equivariant_model_exactly(
    height: int, width: int, overlap: int
) -> None:
    inner = PixelwiseSegmenter()
    rgb = _photo(height, width, seed=height + width)
    tiled = predict_tiled(inner, rgb, inner.input_size, overlap)
    np.testing.assert_allclose(tiled, inner.pixelwise(rgb), atol=1e-6)
    rows = window_starts(height, 32, overlap)
    cols = window_starts(width, 48, overlap)
    assert inner.calls == len(rows) * len(cols)


@pytest.mark.parametrize(
    ("size", "window", "overlap"), [(100, 32, 8), (33, 32, 0), (513, 513, 128), (1024, 513, 128)]
)
def test_window_starts_cover_the_axis_with_the_overlap(
    size: int, window: int, overlap: int
) -> None:
    starts = window_starts(size, window, overlap)
    assert starts[0] == 0
    assert starts[-1] + window == max(size, window)
    assert all(b - a <= window - overlap for a, b in itertools.pairwise(starts))


def test_a_fixed_input_model_sees_only_windows_of_its_input_size() -> None:
    inner = PixelwiseSegmenter()
    tta = TtaSegmenter(inner, TtaOptions(scales=(1.5, 2.5), flip=True, tile_overlap=8))
    rgb = _photo(30, 40)
    probs = tta.predict(rgb)
    assert inner.calls == tta.passes(30, 40) > 4
    assert set(inner.shapes) == {(32, 48)}
    assert probs.shape == (30, 40, NUM_CLASSES)


def test_scale_one_is_the_inner_models_own_view() -> None:
    inner = RampSegmenter()
    rgb = _photo(25, 19)
    np.testing.assert_array_equal(
        TtaSegmenter(inner, TtaOptions()).predict(rgb), inner.predict(rgb)
    )


def test_native_input_size() -> None:
    assert native_input_size(PixelwiseSegmenter()) == (32, 48)
    assert native_input_size(RampSegmenter()) is None


def test_bad_options_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="-1"):
        TtaSegmenter(RampSegmenter(), TtaOptions(scales=(1.0, -1.0)))
    with pytest.raises(ValueError, match="'median'"):
        TtaSegmenter(RampSegmenter(), TtaOptions(average="median"))
    with pytest.raises(ValueError, match="40"):
        TtaSegmenter(PixelwiseSegmenter(), TtaOptions(tile_overlap=40))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("off", TtaOptions()),
        ("flip", TtaOptions(flip=True)),
        ("1,1.5", TtaOptions(scales=(1.0, 1.5))),
        (" 1, 1.5 ,2,FLIP ", TtaOptions(scales=(1.0, 1.5, 2.0), flip=True)),
        ("1,2,log", TtaOptions(scales=(1.0, 2.0), average="log")),
    ],
)
def test_parse_tta(spec: str, expected: TtaOptions) -> None:
    assert parse_tta(spec) == expected
    assert parse_tta(describe_tta(expected)) == expected


@pytest.mark.parametrize("spec", ["1,big", "0", "1,9", "-1"])
def test_parse_tta_refuses_with_the_item(spec: str) -> None:
    with pytest.raises(ValueError, match="TTA"):
        parse_tta(spec)


def test_load_segmenter_wraps_only_when_enabled(deeplab_model_path: Path) -> None:
    plain = load_segmenter(str(deeplab_model_path), tta=TtaOptions())
    assert not isinstance(plain, TtaSegmenter)
    assert native_input_size(plain) == (513, 513)
    wrapped = load_segmenter(str(deeplab_model_path), tta=TtaOptions(flip=True))
    assert isinstance(wrapped, TtaSegmenter)
    assert wrapped.input_size == (513, 513)


def _iou(mask: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> float:
    keep = ~ignore
    return float((mask & truth & keep).sum() / max(1, ((mask | truth) & keep).sum()))


@pytest.mark.slow
def test_real_model_with_tta_keeps_the_fixtures_iou(
    deeplab_model_path: Path, shared_fixtures: Path
) -> None:
    """Scales 1 and 1.5 (windows of 513) with flips on the real DeepLab: each fixture's IoU
    stays within 0.02 of the plain model's and above the pipeline tests' bounds."""
    plain = load_segmenter(str(deeplab_model_path))
    tta = TtaSegmenter(plain, TtaOptions(scales=(1.0, 1.5), flip=True))
    cat = shared_fixtures / "seed_cat"
    dog = shared_fixtures / "pet_dog"
    trimap = np.asarray(Image.open(dog / "trimap.bmp"))
    cases = [
        (
            (cat / "cat.jpg").read_bytes(),
            "cat",
            np.asarray(Image.open(cat / "cat_annotation.png"))[..., 0] > 0,
            None,
            0.80,
        ),
        ((dog / "image.bmp").read_bytes(), "dog", trimap == 0, trimap == 2, 0.85),
    ]
    for data, target, truth, void, bound in cases:
        ignore = np.zeros_like(truth) if void is None else void
        options = StickerOptions(target=target)
        before = _iou(make_sticker(data, plain, options).mask, truth, ignore)
        after = _iou(make_sticker(data, tta, options).mask, truth, ignore)
        assert after >= bound, (target, after)
        assert after >= before - 0.02, (target, before, after)


@pytest.mark.slow
def test_real_model_tta_on_a_photo_smaller_than_its_input(deeplab_model_path: Path) -> None:
    from skimage import data

    rgb = np.asarray(data.chelsea())  # 300 x 451
    tta = load_segmenter(
        str(deeplab_model_path), tta=TtaOptions(scales=(0.75, 1.0, 2.0), flip=True)
    )
    sticker = make_sticker(encode(rgb, "PNG"), tta)
    assert sticker.target == "cat"
    assert sticker.mask.shape == rgb.shape[:2]
