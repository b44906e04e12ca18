"""The faster inference kernels compute what the FCN-8s layers they replace compute."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from segmentation.fcn8s import Fcn8sConfig, _forward_fn, bilinear_kernel, build_fcn8s
from segmentation.kernels import bilinear_upsample, dense_head
from tests.segmentation.checkpoints import TINY_FC_UNITS, TINY_WIDTHS

TINY = Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS)


@pytest.fixture(scope="module")
def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(4)
    return build_fcn8s(config=TINY, kernel_initializer="he_normal")


def _weights(model: keras.Model, *names: str) -> list[tf.Tensor]:
    layers = [model.get_layer(name) for name in names]
    return [tf.convert_to_tensor(w.value) for layer in layers for w in (layer.kernel, layer.bias)]


@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 3, 5), (1, 1, 1), (1, 16, 12)])
def test_dense_head_equals_the_fc6_fc7_fc8_layers(
    tiny_model: keras.Model, shape: tuple[int, int, int]
) -> None:
    features = np.random.default_rng(0).normal(0, 2, (*shape, TINY_WIDTHS[-1]))
    features = tf.constant(features.astype(np.float32))
    layers = [tiny_model.get_layer(name) for name in ("fc6", "fc7", "fc8")]
    expected = layers[2](layers[1](layers[0](features)))
    got = dense_head(features, *_weights(tiny_model, "fc6", "fc7", "fc8"))
    assert got.shape == expected.shape
    scale = float(tf.reduce_max(tf.abs(expected)))
    assert scale > 1e-2  # the ReLUs did not zero everything: a real comparison
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("factor", "shape"),
    [(2, (1, 3, 3)), (2, (2, 4, 7)), (8, (1, 5, 4)), (8, (1, 1, 1)), (4, (1, 2, 6))],
)
def test_bilinear_upsample_equals_the_transposed_convolution(
    factor: int, shape: tuple[int, int, int]
) -> None:
    classes = 21
    scores = np.random.default_rng(factor).normal(0, 5, (*shape, classes)).astype(np.float32)
    batch, height, width = shape
    expected = tf.nn.conv2d_transpose(
        scores,
        bilinear_kernel(factor, classes),
        [batch, height * factor, width * factor, classes],
        factor,
        padding="SAME",
    )
    got = bilinear_upsample(tf.constant(scores), factor)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_bilinear_upsample_equals_the_models_upsampling_layers(tiny_model: keras.Model) -> None:
    scores = tf.constant(np.random.default_rng(1).normal(0, 5, (1, 4, 6, 21)).astype(np.float32))
    for name, factor in (("upsample_x2_fc8", 2), ("upsample_x8", 8)):
        expected = tiny_model.get_layer(name)(scores)
        np.testing.assert_allclose(bilinear_upsample(scores, factor), expected, atol=1e-4)


def test_inference_runs_the_fast_kernels_not_the_slow_layers(tiny_model: keras.Model) -> None:
    forward: Any = _forward_fn(tiny_model)
    graph = forward.get_concrete_function().graph
    ops = {op.type for op in graph.get_operations()}
    assert "Conv2DBackpropInput" not in ops  # no dense 21x21 transposed convolution
    assert "ResizeBilinear" in ops
    calls = [op for op in graph.get_operations() if op.type.endswith("PartitionedCall")]
    assert any("dense_head" in op.get_attr("f").name for op in calls)
