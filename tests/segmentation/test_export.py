"""segmentation.export and the FCN-8s TFLite backend: files per bucket, same numbers as Keras
in fp32, argmax agreement at reduced precision, clear errors when no export exists."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from segmentation.errors import ModelUnavailable
from segmentation.export import (
    FP32,
    INT8,
    INT8_DYNAMIC,
    PRECISIONS,
    calibration_inputs,
    check_precision,
    convert,
    export,
    exported_buckets,
    exported_path,
    mean_padded,
)
from segmentation.fcn8s import VGG_MEANS, Fcn8sConfig, build_fcn8s, probabilities
from segmentation.segmenter import Fcn8sLiteSegmenter, load_segmenter
from tests.segmentation.checkpoints import TINY_FC_UNITS, TINY_WIDTHS

TINY = Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS)
BUCKETS = [(64, 96), (96, 64)]


def _structured_model() -> keras.Model:
    """A tiny FCN-8s whose argmax follows the photo: class = the dominant colour channel.

    Random deep layers, but conv1..conv3 pass the (mean-subtracted, ReLU-clipped) colour on
    and the pool3 score layer reads it, so the logits have real margins, like a trained
    network's: a red block is class 1, green 2, blue 3.
    """
    keras.utils.set_random_seed(0)
    model = build_fcn8s(config=TINY)
    for layer in model.layers:
        if not layer.name.startswith("conv") or layer.name[4] not in "123":
            continue
        kernel, bias = layer.get_weights()
        kernel[:] = 0
        kernel[1, 1, :3, :3] = np.eye(3)  # the centre tap copies the colour channels
        layer.set_weights([kernel, np.zeros_like(bias)])
    kernel, bias = model.get_layer("pool3_fc").get_weights()
    kernel[:] = 0
    for channel, label in enumerate((1, 2, 3)):
        kernel[0, 0, channel, label] = 0.5
    model.get_layer("pool3_fc").set_weights([kernel, bias])
    return model


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blocks of strong red / green / blue, with some noise."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220]], np.uint8)
    blocks = rng.integers(0, 3, (height // 16 + 1, width // 16 + 1))
    rgb = colours[np.kron(blocks, np.ones((16, 16), int))[:height, :width]]
    noise = rng.normal(0, 10, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return _structured_model()


@pytest.fixture(scope="module")
def exports(model: keras.Model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("exports")
    export(model, cache, FP32, buckets=BUCKETS)
    export(model, cache, INT8_DYNAMIC, buckets=BUCKETS[:1])
    return cache


def test_precision_names_and_paths(tmp_path: Path) -> None:
    assert PRECISIONS[0] == FP32
    assert check_precision(INT8) == INT8
    with pytest.raises(ValueError, match="choose one of: fp32, float16"):
        check_precision("bf17")
    path = exported_path(tmp_path, INT8, (384, 512))
    assert path.name == "fcn8s_voc2012.int8.384x512.tflite"
    path.write_bytes(b"x")
    (tmp_path / "fcn8s_voc2012.int8.junk.tflite").write_bytes(b"x")
    assert exported_buckets(tmp_path, INT8) == {(384, 512): path}
    assert exported_buckets(tmp_path, INT8_DYNAMIC) == {}


def test_mean_padding_and_calibration_inputs() -> None:
    rgb = np.full((10, 20, 3), 7, np.uint8)
    padded = mean_padded(rgb, 32, 32)
    assert padded.shape == (1, 32, 32, 3)
    assert padded.dtype == np.float32
    assert (padded[0, :10, :20] == 7).all()
    np.testing.assert_array_equal(padded[0, 31, 31], np.float32(VGG_MEANS))
    with pytest.raises(ValueError, match="does not fit"):
        mean_padded(rgb, 8, 32)
    (inputs,) = calibration_inputs([np.zeros((100, 300, 3), np.uint8)], (64, 96))
    assert inputs.shape == (1, 64, 96, 3)
    assert (inputs[0, :32] == 0).all()  # 300 wide -> 96 wide: 100 high -> 32 high
    np.testing.assert_array_equal(inputs[0, 40, 0], np.float32(VGG_MEANS))


def test_convert_refuses_bad_shapes_and_uncalibrated_int8(model: keras.Model) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        convert(model, FP32, (50, 64))
    with pytest.raises(ValueError, match="needs calibration"):
        convert(model, INT8, (64, 64))


def test_fp32_export_computes_what_keras_computes(model: keras.Model, exports: Path) -> None:
    lite = Fcn8sLiteSegmenter(exported_buckets(exports, FP32), FP32, num_threads=1)
    assert lite.name == "fcn8s-fp32"
    assert lite.backend == "tflite"
    for shape, bucket in [((64, 96), (64, 96)), ((50, 70), (64, 96)), ((90, 60), (96, 64))]:
        rgb = _photo(*shape)
        expected = np.asarray(probabilities(model, rgb[np.newaxis], pad_to=bucket)[0])
        got = lite.predict(rgb)
        assert got.shape == (*shape, 21)
        np.testing.assert_allclose(got, expected, atol=2e-4)


def test_int8_dynamic_agrees_with_fp32(model: keras.Model, exports: Path) -> None:
    fast = Fcn8sLiteSegmenter(exported_buckets(exports, INT8_DYNAMIC), INT8_DYNAMIC, num_threads=1)
    fast.warmup()
    rgb = _photo(64, 96, seed=3)
    labels = np.asarray(probabilities(model, rgb[np.newaxis], pad_to=(64, 96))[0]).argmax(-1)
    assert len(np.unique(labels)) >= 3  # a structured map, not one class everywhere
    assert (fast.predict(rgb).argmax(-1) == labels).mean() >= 0.98


def test_photo_larger_than_every_bucket_is_shrunk_to_fit(exports: Path) -> None:
    lite = Fcn8sLiteSegmenter(exported_buckets(exports, FP32), FP32, num_threads=1)
    probs = lite.predict(_photo(200, 150))
    assert probs.shape == (200, 150, 21)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)


def test_load_segmenter_finds_exports_or_says_how_to_make_them(
    exports: Path, tmp_path: Path
) -> None:
    segmenter = load_segmenter("fcn8s", cache_dir=exports, precision=INT8_DYNAMIC, num_threads=1)
    assert isinstance(segmenter, Fcn8sLiteSegmenter)
    assert segmenter.name == "fcn8s-int8-dynamic"
    with pytest.raises(ModelUnavailable, match="stickerbot export --precision int8"):
        load_segmenter("fcn8s", cache_dir=tmp_path, precision=INT8)
    with pytest.raises(ModelUnavailable, match="unknown precision"):
        load_segmenter("fcn8s", cache_dir=tmp_path, precision="fp64")
    with pytest.raises(ModelUnavailable, match="applies to 'fcn8s'"):
        load_segmenter(str(tmp_path / "any.tflite"), precision=INT8)


def test_a_mislabelled_export_is_refused(exports: Path, tmp_path: Path) -> None:
    wrong = exported_path(tmp_path, FP32, (96, 96))
    wrong.write_bytes(exported_path(exports, FP32, (64, 96)).read_bytes())
    lite = Fcn8sLiteSegmenter(exported_buckets(tmp_path, FP32), FP32, num_threads=1)
    with pytest.raises(ModelUnavailable, match="does not match its name"):
        lite.warmup()


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float16", INT8])
def test_reduced_precisions_agree_with_fp32(
    model: keras.Model, tmp_path: Path, precision: str
) -> None:
    calibration = [_photo(64, 96, seed=s) for s in range(4)]
    export(model, tmp_path, precision, buckets=[(64, 96)], calibration=calibration)
    fast = load_segmenter("fcn8s", cache_dir=tmp_path, precision=precision, num_threads=1)
    rgb = _photo(64, 96, seed=7)
    labels = np.asarray(probabilities(model, rgb[np.newaxis], pad_to=(64, 96))[0]).argmax(-1)
    assert (fast.predict(rgb).argmax(-1) == labels).mean() >= 0.98
