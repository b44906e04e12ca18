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
    labels_to_probabilities,
    load_segmenter,
    quantized_softmax,
    softmax,
)

CAT = class_index("cat")
SIDE = 64


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


def _bright_is_cat_model(tmp_path: Path, output: str) -> Path:
    """A tiny TFLite model: a pixel whose red channel is bright is 'cat', else background.

    ``output`` is ``"logits"`` ([1,H,W,21] float), ``"quantized"`` ([1,H,W,21] uint8 scores)
    or ``"labels"`` ([1,H,W] int, computed without any 21-channel tensor in the graph).
    """
    import tensorflow as tf

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, SIDE, SIDE, 3], tf.uint8)])
        def __call__(self, image: tf.Tensor) -> tf.Tensor:
            red = tf.cast(image[..., 0], tf.float32) / 255.0
            if output == "labels":
                return tf.cast(red > 0.5, tf.int64) * CAT
            score = (red - 0.5) * 20.0
            onehot_cat = tf.one_hot(CAT, NUM_CLASSES)
            onehot_bg = tf.one_hot(0, NUM_CLASSES)
            logits = score[..., None] * onehot_cat - score[..., None] * onehot_bg
            if output == "quantized":
                return tf.cast(tf.clip_by_value(logits * 4.0 + 128.0, 0.0, 255.0), tf.uint8)
            return logits

    module = Model()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    path = tmp_path / f"{output}.tflite"
    path.write_bytes(converter.convert())
    return path


def _photo() -> np.ndarray:
    rgb = np.zeros((48, 80, 3), np.uint8)  # not the model's size: resized and padded
    rgb[10:40, 20:60, 0] = 255
    return rgb


@pytest.mark.parametrize("output", ["logits", "labels", "quantized"])
def test_tflite_backend_maps_any_output_kind_to_probabilities(tmp_path: Path, output: str) -> None:
    segmenter = load_segmenter(str(_bright_is_cat_model(tmp_path, output)), num_threads=1)
    assert isinstance(segmenter, Segmenter)
    assert segmenter.backend == "tflite"
    rgb = _photo()
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
