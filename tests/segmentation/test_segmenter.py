"""Segmenter backends: the TFLite backend on synthetic models built here and on the real
DeepLabV3; the FCN-8s backend's shapes are covered in test_fcn8s.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segmentation.classes import NUM_CLASSES, class_index
from segmentation.errors import ModelUnavailable
from segmentation.segmenter import (
    Segmenter,
    TFLiteSegmenter,
    choose_backend,
    labels_to_probabilities,
    load_segmenter,
    quantized_softmax,
    softmax,
)
from tests.segmentation.tflite_models import bright_is_cat_model, bright_square_photo

CAT = class_index("cat")


def test_softmax_is_a_distribution() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]], np.float32)
    probs = softmax(logits)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    assert probs[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(probs[1], 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantized_softmax_equals_softmax_of_the_dequantized_scores(dtype: type) -> None:
    info = np.iinfo(dtype)
    codes = np.random.default_rng(0).integers(info.min, info.max + 1, (7, 9, NUM_CLASSES))
    codes[0, 0] = info.min  # all at the bottom of the range: still a distribution
    codes[0, 1] = info.max
    values = codes.astype(dtype)
    scale, zero_point = 0.2015, 36
    expected = softmax((values.astype(np.float32) - zero_point) * np.float32(scale))
    got = quantized_softmax(values, (scale, zero_point))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[0, 0], 1 / NUM_CLASSES, rtol=1e-5)


def test_quantized_softmax_falls_back_beyond_the_table_range() -> None:
    values = np.array([[0, 255, 128]], np.uint8)
    wide = quantized_softmax(values, (1.0, 0))  # exp(-255) underflows a table entry
    np.testing.assert_allclose(wide, softmax(values.astype(np.float32)), rtol=1e-6)
    floats = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_allclose(quantized_softmax(floats, (0.0, 0)), softmax(floats))


def test_labels_become_soft_probabilities() -> None:
    labels = np.zeros((100, 100), np.int64)
    labels[20:80, 30:70] = CAT
    labels[0, 0] = 255  # void: no class gets the confidence
    probs = labels_to_probabilities(labels)
    assert probs.shape == (100, 100, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    # Blurring only rounds the object's corners: the labels survive everywhere else.
    assert (probs.argmax(-1) == labels)[1:].mean() > 0.999
    np.testing.assert_array_equal(probs[50].argmax(-1), labels[50])
    # Soft at the edge, confident inside.
    assert probs[50, 50, CAT] > 0.85
    assert 0.2 < probs[50, 30, CAT] < 0.7


@pytest.mark.parametrize("backend", ["tflite", "tensorflow", "openvino"])
@pytest.mark.parametrize("output", ["logits", "labels", "quantized"])
def test_tflite_models_map_any_output_kind_to_probabilities(
    tmp_path: Path, output: str, backend: str
) -> None:
    """LiteRT (the default), TensorFlow's interpreter and OpenVINO read the same files."""
    if backend == "openvino":
        pytest.importorskip("openvino", reason="the openvino extra is not installed")
    model = str(bright_is_cat_model(tmp_path, output))
    segmenter = load_segmenter(model, num_threads=1, backend=backend)
    assert isinstance(segmenter, Segmenter)
    assert segmenter.backend == backend
    if backend == "tflite":
        assert load_segmenter(model, num_threads=1).backend == "tflite"  # what auto picks
    rgb = bright_square_photo()
    probs = segmenter.predict(rgb)
    assert probs.shape == (48, 80, NUM_CLASSES)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)
    labels = probs.argmax(-1)
    assert (labels[14:36, 24:56] == CAT).all()
    assert (labels[:6] == 0).all()
    assert (labels[:, :14] == 0).all()
    segmenter.warmup()


def test_missing_or_unknown_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not found"):
        load_segmenter(str(tmp_path / "absent.tflite"))
    with pytest.raises(ModelUnavailable, match="unknown model 'resnet'"):
        load_segmenter("resnet")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelUnavailable, match=r"broken\.tflite"):
        TFLiteSegmenter(broken)


@pytest.mark.slow
def test_deeplab_finds_the_person(deeplab_model_path: Path, astronaut: np.ndarray) -> None:
    segmenter = load_segmenter(str(deeplab_model_path))
    probs = segmenter.predict(astronaut[::2, ::2])
    assert probs.shape == (256, 256, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)
    labels = probs.argmax(-1)
    person = class_index("person")
    assert (labels == person).mean() > 0.25
    assert labels[100, 110] == person  # her face
    assert labels[10, 10] == 0


@pytest.mark.parametrize(
    ("model", "backend", "precision", "chosen"),
    [
        ("fcn8s", "auto", "fp32", "openvino"),  # faster than TensorFlow at fp32 (bench)
        ("fcn8s", "auto", "auto", "openvino"),
        ("fcn8s", "auto", "int8-dynamic", "tflite"),  # the TFLite exports
        ("m.tflite", "auto", "fp32", "tflite"),  # LiteRT: fastest and smallest
        ("m.tflite", "auto", "auto", "tflite"),  # at its own precision
        ("m.tflite", "auto", "bf16", "openvino"),
        ("fcn8s", "tensorflow", "fp32", "tensorflow"),
    ],
)
def test_auto_backend_is_what_the_benchmark_found_fastest(
    model: str, backend: str, precision: str, chosen: str
) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    assert choose_backend(model, backend, precision) == chosen


def test_without_openvino_auto_runs_fcn8s_in_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("segmentation.segmenter.openvino_available", lambda: False)
    assert choose_backend("fcn8s", "auto", "fp32") == "tensorflow"
    with pytest.raises(ModelUnavailable, match="'bf16' needs the openvino backend"):
        load_segmenter("fcn8s", precision="bf16")


def test_unknown_backend_or_precision_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="unknown backend 'onnx'"):
        load_segmenter("fcn8s", backend="onnx")
    with pytest.raises(ModelUnavailable, match="unknown precision 'fp64'"):
        load_segmenter("fcn8s", precision="fp64")
