"""The Keras FCN-8s graph: layers, fixed bilinear upsampling, preprocessing, pad/crop."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.fcn8s import (
    NETWORK_STRIDE,
    SEED_CONFIG,
    VGG_MEANS,
    WARMUP_BUCKETS,
    Fcn8sConfig,
    bilinear_kernel,
    bucket_shape,
    build_fcn8s,
    conv_specs,
    logits,
    pad_to_multiple,
    preprocess,
    probabilities,
)
from tests.segmentation.checkpoints import MEANS, TINY_FC_UNITS, TINY_WIDTHS, tent_kernel

TINY = Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS)
UPSAMPLERS = {"upsample_x2_fc8": 2, "upsample_x2_fused": 2, "upsample_x8": 8}
LEARNED = [
    *(f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)),
    "fc6",
    "fc7",
    "fc8",
    "pool4_fc",
    "pool3_fc",
]
# The seed's VGG-16 FCN-8s: 134,362,751 learned parameters (fc6 alone 102,764,544).
SEED_LEARNED_PARAMS = 134_362_751


@pytest.fixture(scope="module")
def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_fcn8s(config=TINY)


def test_vgg_means_are_the_seeds() -> None:
    assert VGG_MEANS == (123.68, 116.78, 103.94)


@pytest.mark.parametrize(("factor", "classes"), [(2, 21), (8, 21), (2, 1), (4, 3)])
def test_bilinear_kernel_is_the_tent_on_the_diagonal(factor: int, classes: int) -> None:
    kernel = bilinear_kernel(factor, classes)
    assert kernel.shape == (2 * factor, 2 * factor, classes, classes)
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, tent_kernel(factor, classes), atol=1e-7)
    off_diagonal = ~np.eye(classes, dtype=bool)
    assert not kernel[:, :, off_diagonal].any()


def test_bilinear_kernel_x2_values() -> None:
    # The seed's upsample_filt(4): 1-D taps 0.25, 0.75, 0.75, 0.25.
    taps = np.array([0.25, 0.75, 0.75, 0.25], dtype=np.float32)
    np.testing.assert_allclose(bilinear_kernel(2, 1)[:, :, 0, 0], np.outer(taps, taps))


@pytest.mark.parametrize(("factor", "classes"), [(3, 21), (0, 21), (2, 0)])
def test_bilinear_kernel_rejects_bad_arguments(factor: int, classes: int) -> None:
    with pytest.raises(ValueError, match=r"factor|num_classes"):
        bilinear_kernel(factor, classes)


def test_preprocess_subtracts_the_rgb_means() -> None:
    rgb = np.zeros((1, 2, 3, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    out = preprocess(rgb)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out[0, 0, 0], np.array([255.0, 0.0, 0.0]) - MEANS, rtol=1e-6)
    np.testing.assert_allclose(preprocess(rgb.astype(np.float64)), out)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4, 4), np.uint8), np.zeros((1, 4, 4, 3), bool)],
)
def test_preprocess_rejects_non_rgb_batches(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected"):
        preprocess(bad)


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 80), width=st.integers(1, 80), multiple=st.sampled_from([8, 32]))
def test_pad_to_multiple_pads_bottom_right_with_zeros(
    height: int, width: int, multiple: int
) -> None:
    batch = np.ones((2, height, width, 3), dtype=np.float32)
    padded, (h, w) = pad_to_multiple(tf.constant(batch), multiple)
    assert (int(h), int(w)) == (height, width)
    ph, pw = padded.shape[1:3]
    assert ph % multiple == 0
    assert pw % multiple == 0
    assert height <= ph < height + multiple
    assert width <= pw < width + multiple
    assert float(tf.reduce_sum(padded)) == batch.sum()
    np.testing.assert_array_equal(padded[:, :height, :width], batch)


def test_layer_names_are_stable(tiny_model: keras.Model) -> None:
    names = {layer.name for layer in tiny_model.layers}
    assert set(LEARNED) | set(UPSAMPLERS) | {"fuse_pool4", "fuse_pool3"} <= names
    assert [spec.name for spec in conv_specs()] == LEARNED
    assert tiny_model.layers[-1].name == "upsample_x8"


def test_upsampling_is_fixed_bilinear(tiny_model: keras.Model) -> None:
    for name, factor in UPSAMPLERS.items():
        layer = tiny_model.get_layer(name)
        assert not layer.trainable
        assert layer.strides == (factor, factor)
        (kernel,) = layer.get_weights()
        np.testing.assert_allclose(kernel, tent_kernel(factor, 21), atol=1e-7)
    trainable = {w.path.split("/")[0] for w in tiny_model.trainable_weights}
    assert trainable == set(LEARNED)
    assert len(tiny_model.non_trainable_weights) == len(UPSAMPLERS)


def test_upsampling_keeps_a_constant_map_constant_inside(tiny_model: keras.Model) -> None:
    layer = tiny_model.get_layer("upsample_x8")
    out = np.asarray(layer(tf.ones((1, 6, 6, 21))))
    assert out.shape == (1, 48, 48, 21)
    np.testing.assert_allclose(out[:, 8:-8, 8:-8], 1.0, rtol=1e-6)


@pytest.mark.parametrize(("height", "width"), [(32, 32), (64, 96), (96, 64)])
def test_model_output_shape(tiny_model: keras.Model, height: int, width: int) -> None:
    out = tiny_model(tf.zeros((2, height, width, 3)))
    assert out.shape == (2, height, width, 21)
    assert out.dtype == tf.float32


@pytest.mark.parametrize(("height", "width"), [(32, 32), (64, 96), (100, 37), (1, 1), (33, 65)])
def test_logits_shape_for_any_size(tiny_model: keras.Model, height: int, width: int) -> None:
    rgb = np.random.default_rng(height).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    out = logits(tiny_model, rgb)
    assert out.shape == (1, height, width, 21)
    assert out.dtype == tf.float32


def test_logits_pads_with_the_mean_colour_and_crops(tiny_model: keras.Model) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (2, 100, 37, 3), dtype=np.uint8)
    padded = np.broadcast_to(MEANS, (2, 128, 64, 3)).copy()
    padded[:, :100, :37] = rgb
    expected = np.asarray(tiny_model(padded - MEANS))[:, :100, :37]
    np.testing.assert_allclose(logits(tiny_model, rgb), expected, rtol=1e-4, atol=1e-4)


def test_bucket_shape_rounds_each_side_up_to_the_step() -> None:
    assert bucket_shape(512, 341) == (512, 384)
    assert bucket_shape(300, 451) == (384, 512)
    assert bucket_shape(512, 512) == (512, 512)
    assert bucket_shape(1, 129) == (128, 256)
    assert bucket_shape(33, 65, NETWORK_STRIDE) == (64, 96)
    assert all(bucket_shape(*shape) == shape for shape in WARMUP_BUCKETS)
    with pytest.raises(ValueError, match="empty"):
        bucket_shape(0, 5)
    with pytest.raises(ValueError, match="multiple of 32"):
        bucket_shape(5, 5, step=48)


def test_logits_pad_to_a_bucket_with_the_mean_colour(tiny_model: keras.Model) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (1, 50, 70, 3), dtype=np.uint8)
    padded = np.broadcast_to(MEANS, (1, 128, 96, 3)).copy()
    padded[:, :50, :70] = rgb
    expected = np.asarray(tiny_model(padded - MEANS))[:, :50, :70]
    got = logits(tiny_model, rgb, pad_to=(128, 96))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="cannot pad 50x70 to"):
        logits(tiny_model, rgb, pad_to=(32, 96))
    with pytest.raises(ValueError, match="multiples of 32"):
        logits(tiny_model, rgb, pad_to=(64, 80))


def test_probabilities_are_the_softmax_of_the_logits(tiny_model: keras.Model) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (1, 40, 60, 3), dtype=np.uint8)
    scores = np.asarray(logits(tiny_model, rgb, pad_to=(64, 64)), np.float64)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    got = np.asarray(probabilities(tiny_model, rgb, pad_to=(64, 64)))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bucketed_calls_trace_once() -> None:
    from segmentation.fcn8s import _forward_fn

    model = build_fcn8s(3, config=TINY)
    for shape, bucket in [((40, 50), (64, 64)), ((64, 64), (64, 64)), ((10, 90), (32, 96))]:
        probabilities(model, np.zeros((1, *shape, 3), np.uint8), pad_to=bucket)
    compiled: Any = _forward_fn(model, probabilities=True)
    assert compiled.experimental_get_tracing_count() == 1


def test_logits_traces_once_for_all_sizes() -> None:
    from segmentation.fcn8s import _forward_fn

    model = build_fcn8s(3, config=TINY)
    for height, width in [(32, 32), (50, 70), (7, 300)]:
        logits(model, np.zeros((1, height, width, 3), np.uint8))
    logits(model, np.zeros((3, 40, 40, 3), np.float32))
    compiled: Any = _forward_fn(model)  # a tf.function
    assert compiled.experimental_get_tracing_count() == 1


def test_logits_cache_does_not_keep_models_alive() -> None:
    model = build_fcn8s(3, config=TINY)
    logits(model, np.zeros((1, 32, 32, 3), np.uint8))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_logits_rejects_empty_images(tiny_model: keras.Model) -> None:
    with pytest.raises(ValueError, match="empty"):
        logits(tiny_model, np.zeros((1, 0, 5, 3), np.uint8))


def test_network_stride_is_two_to_the_number_of_pools(tiny_model: keras.Model) -> None:
    pools = [layer for layer in tiny_model.layers if layer.name.startswith("pool")]
    assert [p.name for p in pools if not p.name.endswith("_fc")] == [
        f"pool{b}" for b in range(1, 6)
    ]
    assert NETWORK_STRIDE == 2**5


def test_seed_config_parameter_count(tiny_model: keras.Model) -> None:
    assert sum(spec.params for spec in conv_specs()) == SEED_LEARNED_PARAMS
    assert Fcn8sConfig() == SEED_CONFIG
    learned = sum(spec.params for spec in conv_specs(config=TINY))
    fixed = sum(int(np.prod(w.shape)) for w in tiny_model.non_trainable_weights)
    assert tiny_model.count_params() == learned + fixed


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="invalid FCN-8s config"):
        Fcn8sConfig(fc_units=0)
