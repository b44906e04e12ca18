"""The NumPy probability helpers that replace TensorFlow in the TFLite and OpenVINO paths."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.backends.probabilities import fit_into, fitted_size, resize_probabilities


@pytest.mark.parametrize("shape", [(40, 30), (97, 61), (23, 45)])
def test_resize_is_tensorflows_bilinear_resize(shape: tuple[int, int]) -> None:
    import tensorflow as tf

    probs = np.random.default_rng(0).dirichlet(np.ones(21), size=(37, 45)).astype(np.float32)
    expected = np.array(tf.image.resize(probs[np.newaxis], shape, method="bilinear")[0])
    expected /= expected.sum(-1, keepdims=True)
    got = resize_probabilities(probs, *shape)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_array_equal(resize_probabilities(probs, 37, 45), probs)


def test_fit_into_keeps_the_aspect_ratio_and_pads() -> None:
    rgb = np.full((20, 40, 3), 200, np.uint8)
    canvas = fit_into(rgb, 64, 64, (128, 128, 128))
    assert fitted_size(20, 40, 64, 64) == (32, 64)
    assert canvas.shape == (64, 64, 3)
    assert (canvas[:32] == 200).all()
    assert (canvas[32:] == 128).all()


def test_a_photo_that_nearly_fills_the_input_is_only_padded() -> None:
    assert fitted_size(512, 384, 513, 513, min_upscale=1.1) == (512, 384)
    assert fitted_size(256, 192, 513, 513, min_upscale=1.1) == (513, 385)  # small: enlarged
    assert fitted_size(600, 300, 513, 513, min_upscale=1.1) == (513, 256)  # large: shrunk
