"""FCN-8s (Long et al., "Fully Convolutional Networks for Semantic Segmentation") in Keras.

The graph is the seed's (warmspringwinds/tf-image-segmentation ``models/fcn_8s.py``, TF-Slim
VGG-16 with ``fc_conv_padding='SAME'``), so its checkpoint imports layer for layer
(``segmentation.weights``). Layer names are stable because weight files are keyed by them;
in graph order, with the seed's variable scope (under ``fcn_8s/``) where there is one:

* ``conv{b}_{i}``: 3x3 SAME conv + ReLU, VGG-16 blocks b = 1..5 (``vgg_16/conv{b}/conv{b}_{i}``);
* ``pool{b}``: 2x2 stride-2 max-pooling after each block;
* ``fc6``: 7x7 SAME conv of pool5 to 4096 + ReLU (``vgg_16/fc6``);
* ``fc7``: 1x1 conv 4096 + ReLU (``vgg_16/fc7``);
* ``fc8``: 1x1 conv to the classes, linear: the score at /32 (``vgg_16/fc8``);
* ``upsample_x2_fc8``: fixed bilinear x2 of fc8;
* ``pool4_fc``: 1x1 conv of pool4 to the classes, linear (``pool4_fc``);
* ``fuse_pool4``: ``upsample_x2_fc8 + pool4_fc``;
* ``upsample_x2_fused``: fixed bilinear x2 of fuse_pool4;
* ``pool3_fc``: 1x1 conv of pool3 to the classes, linear (``pool3_fc``);
* ``fuse_pool3``: ``upsample_x2_fused + pool3_fc``;
* ``upsample_x8``: fixed bilinear x8 of fuse_pool3, the model's output (logits at /1).

Unlike Caffe's FCN-8s-at-once, the seed does not scale the pool4/pool3 features before their
score layers, and its dropout after fc6/fc7 is inactive at inference, so neither exists here.
Preprocessing lives outside the model: :func:`preprocess` (RGB minus the VGG means, no BGR
swap, no scaling) and :func:`logits` (preprocess, pad to /32, run, crop back). Inference runs
the model's own layers for the backbone and the skips, and faster equivalents
(:mod:`segmentation.kernels`) for fc6-fc8 and the fixed upsampling; the TFLite export runs
the Keras layers themselves.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import keras
import numpy as np
import tensorflow as tf

from segmentation.backends.fcn8s_input import BUCKET_STEP as BUCKET_STEP
from segmentation.backends.fcn8s_input import NETWORK_STRIDE as NETWORK_STRIDE
from segmentation.backends.fcn8s_input import VGG_MEANS as VGG_MEANS
from segmentation.backends.fcn8s_input import WARMUP_BUCKETS as WARMUP_BUCKETS
from segmentation.backends.fcn8s_input import bucket_shape as bucket_shape
from segmentation.classes import NUM_CLASSES
from segmentation.kernels import bilinear_upsample, dense_head

# Upsampling factors of the three fixed transposed convolutions: /32 -> /16 -> /8 -> /1.
_UPSAMPLE_FACTORS: Final = {"upsample_x2_fc8": 2, "upsample_x2_fused": 2, "upsample_x8": 8}


# --- config ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fcn8sConfig:
    """Sizes of the backbone; the defaults are the seed's VGG-16 (tests build narrow nets).

    ``widths[b]`` is the channel count of block ``b + 1`` (``convs_per_block[b]`` 3x3 convs);
    ``fc_units`` is the width of fc6/fc7, ``fc6_kernel`` fc6's side.
    """

    widths: tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)
    convs_per_block: tuple[int, int, int, int, int] = (2, 2, 3, 3, 3)
    fc_units: int = 4096
    fc6_kernel: int = 7

    def __post_init__(self) -> None:
        sizes = (*self.widths, *self.convs_per_block, self.fc_units, self.fc6_kernel)
        if len(self.widths) != 5 or len(self.convs_per_block) != 5 or min(sizes) < 1:
            raise ValueError(f"invalid FCN-8s config: {self!r}")


SEED_CONFIG: Final = Fcn8sConfig()


@dataclass(frozen=True, slots=True)
class ConvSpec:
    """One learned convolution of the network: the single source of layer names and shapes."""

    name: str
    kernel_size: int
    in_channels: int
    filters: int
    relu: bool

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        """HWIO, as both Keras ``Conv2D`` and TF-Slim store it."""
        return (self.kernel_size, self.kernel_size, self.in_channels, self.filters)

    @property
    def bias_shape(self) -> tuple[int]:
        return (self.filters,)

    @property
    def params(self) -> int:
        return int(np.prod(self.kernel_shape)) + self.filters


def conv_specs(
    num_classes: int = NUM_CLASSES, config: Fcn8sConfig = SEED_CONFIG
) -> tuple[ConvSpec, ...]:
    """Every learned layer, in graph order: conv1_1..conv5_3, fc6, fc7, fc8, pool4_fc, pool3_fc."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    specs: list[ConvSpec] = []
    channels = 3
    pooled: dict[int, int] = {}
    for block, (width, convs) in enumerate(zip(config.widths, config.convs_per_block, strict=True)):
        for i in range(1, convs + 1):
            specs.append(ConvSpec(f"conv{block + 1}_{i}", 3, channels, width, relu=True))
            channels = width
        pooled[block + 1] = channels
    units = config.fc_units
    specs += [
        ConvSpec("fc6", config.fc6_kernel, channels, units, relu=True),
        ConvSpec("fc7", 1, units, units, relu=True),
        ConvSpec("fc8", 1, units, num_classes, relu=False),
        ConvSpec("pool4_fc", 1, pooled[4], num_classes, relu=False),
        ConvSpec("pool3_fc", 1, pooled[3], num_classes, relu=False),
    ]
    return tuple(specs)


# --- layers ---------------------------------------------------------------------------------


def bilinear_kernel(factor: int, num_classes: int) -> np.ndarray:
    """The seed's fixed upsampling kernel: ``[2f, 2f, C, C]`` float32, bilinear on the diagonal.

    Each class is upsampled on its own (off-diagonal entries are zero) with the separable tent
    ``1 - |x - c| / f``, ``c = f - 1/2``; equal to the seed's ``bilinear_upsample_weights`` for the
    even factors FCN-8s uses (the seed sizes odd factors' kernels differently).
    """
    if factor < 2 or factor % 2:
        raise ValueError(f"upsampling factor must be even and >= 2, got {factor}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    size = 2 * factor
    tent = 1.0 - np.abs(np.arange(size) - (factor - 0.5)) / factor
    kernel = np.zeros((size, size, num_classes, num_classes), dtype=np.float32)
    kernel[:, :, np.arange(num_classes), np.arange(num_classes)] = np.outer(tent, tent)[..., None]
    return kernel


@keras.saving.register_keras_serializable(package="stickerbot")
class BilinearInitializer(keras.initializers.Initializer):  # type: ignore[misc]
    """Initialises a ``Conv2DTranspose`` kernel ``[2f, 2f, C, C]`` with :func:`bilinear_kernel`."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        kernel = bilinear_kernel(self.factor, int(shape[-1]))
        if tuple(shape) != kernel.shape:
            raise ValueError(
                f"bilinear x{self.factor} kernel has shape {kernel.shape}, not {shape}"
            )
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}


def conv_layer(spec: ConvSpec, initializer: str) -> keras.layers.Layer:
    """The Keras layer of one learned convolution (SAME padding, ReLU unless a score layer)."""
    return keras.layers.Conv2D(
        spec.filters,
        spec.kernel_size,
        padding="same",
        activation="relu" if spec.relu else None,
        kernel_initializer=initializer,
        name=spec.name,
    )


def _upsample(name: str, num_classes: int) -> keras.layers.Layer:
    return upsample_layer(_UPSAMPLE_FACTORS[name], num_classes, name)


def upsample_layer(factor: int, num_classes: int, name: str) -> keras.layers.Layer:
    """A frozen bilinear transposed conv; SAME padding gives exactly ``factor`` x the input."""
    return keras.layers.Conv2DTranspose(
        num_classes,
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearInitializer(factor),
        trainable=False,
        name=name,
    )


# --- model ----------------------------------------------------------------------------------


def build_fcn8s(
    num_classes: int = NUM_CLASSES,
    *,
    config: Fcn8sConfig = SEED_CONFIG,
    kernel_initializer: str = "glorot_uniform",
) -> keras.Model:
    """FCN-8s with fresh learned weights (the bilinear upsampling kernels are always set).

    Input ``image``: float32 ``[B, H, W, 3]`` already :func:`preprocess`-ed, H and W multiples of
    :data:`NETWORK_STRIDE`. Output: logits ``[B, H, W, num_classes]`` (float32 under the default
    dtype policy). Use :func:`logits` for photos of any size. Pass ``kernel_initializer="zeros"``
    when weights are loaded right after: drawing 134 M random numbers takes seconds.
    """
    layers = {
        spec.name: conv_layer(spec, kernel_initializer) for spec in conv_specs(num_classes, config)
    }
    image = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    score, pools = vgg_trunk(image, layers, config)
    score = _upsample("upsample_x2_fc8", num_classes)(score)
    score = keras.layers.Add(name="fuse_pool4")([score, layers["pool4_fc"](pools[4])])
    score = _upsample("upsample_x2_fused", num_classes)(score)
    score = keras.layers.Add(name="fuse_pool3")([score, layers["pool3_fc"](pools[3])])
    score = _upsample("upsample_x8", num_classes)(score)
    return keras.Model(image, score, name="fcn8s")


def vgg_trunk(
    image: Any, layers: dict[str, keras.layers.Layer], config: Fcn8sConfig
) -> tuple[Any, dict[int, Any]]:
    """VGG-16 as a fully convolutional net: ``fc8``'s scores at /32 and the five pool outputs."""
    x = image
    pools: dict[int, Any] = {}
    for block, convs in enumerate(config.convs_per_block, start=1):
        for i in range(1, convs + 1):
            x = layers[f"conv{block}_{i}"](x)
        x = pools[block] = keras.layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    return layers["fc8"](layers["fc7"](layers["fc6"](x))), pools


# --- inference ------------------------------------------------------------------------------


def _rgb_batch(rgb: tf.Tensor | np.ndarray) -> tf.Tensor:
    """``rgb`` as a tensor, checked to be a uint8 or float ``[B, H, W, 3]`` batch."""
    batch = tf.convert_to_tensor(rgb)
    if batch.shape.rank != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected an RGB batch [B, H, W, 3], got shape {batch.shape}")
    if batch.dtype != tf.uint8 and not batch.dtype.is_floating:
        raise ValueError(f"expected uint8 or float pixels, got {batch.dtype.name}")
    return batch


def preprocess(rgb: tf.Tensor | np.ndarray) -> tf.Tensor:
    """uint8 or float (0..255) RGB ``[B, H, W, 3]`` -> float32 minus :data:`VGG_MEANS`."""
    batch = _rgb_batch(rgb)
    return tf.cast(batch, tf.float32) - tf.constant(VGG_MEANS, dtype=tf.float32)


def pad_to_multiple(
    batch: tf.Tensor, multiple: int = NETWORK_STRIDE
) -> tuple[tf.Tensor, tuple[tf.Tensor, tf.Tensor]]:
    """Zero-pad ``[B, H, W, C]`` at the bottom and right to multiples of ``multiple``.

    After :func:`preprocess` zero is the mean colour. Returns the padded batch and the original
    ``(H, W)`` as scalar int32 tensors, to crop the output back with ``[:, :h, :w]``.
    """
    shape = tf.shape(batch)
    height, width = shape[1], shape[2]
    padding = [[0, 0], [0, (-height) % multiple], [0, (-width) % multiple], [0, 0]]
    return tf.pad(batch, padding), (height, width)


def _infer(model: keras.Model, batch: tf.Tensor) -> tf.Tensor:
    """The model's forward pass on a preprocessed, padded batch: its own layers for the
    backbone and the skips; :func:`~segmentation.kernels.dense_head` for fc6-fc8 and
    :func:`~segmentation.kernels.bilinear_upsample` for the fixed upsampling layers (tests
    pin both to the layers they stand for).

    Reads the layers' current weights, so a model whose weights change is never stale.
    """
    names = {layer.name for layer in model.layers}
    x = batch
    pools: dict[int, tf.Tensor] = {}
    for block in range(1, 6):
        index = 1
        while f"conv{block}_{index}" in names:
            x = model.get_layer(f"conv{block}_{index}")(x, training=False)
            index += 1
        x = pools[block] = model.get_layer(f"pool{block}")(x)
    fc = [model.get_layer(name) for name in ("fc6", "fc7", "fc8")]
    weights = (tf.convert_to_tensor(w.value) for layer in fc for w in (layer.kernel, layer.bias))
    score = dense_head(x, *weights)
    for name, skip in (("upsample_x2_fc8", 4), ("upsample_x2_fused", 3)):
        score = bilinear_upsample(score, _UPSAMPLE_FACTORS[name])
        score = score + model.get_layer(f"pool{skip}_fc")(pools[skip], training=False)
    return bilinear_upsample(score, _UPSAMPLE_FACTORS["upsample_x8"])


ForwardFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
_FORWARD: weakref.WeakKeyDictionary[keras.Model, dict[bool, ForwardFn]] = (
    weakref.WeakKeyDictionary()
)
_FORWARD_LOCK = threading.Lock()


def _forward_fn(model: keras.Model, *, probabilities: bool = False) -> ForwardFn:
    """The model's preprocess-pad-run-crop graph: one ``tf.function`` per model, traced once.

    Called as ``forward(rgb, padded_shape)``: ``rgb`` float32 ``[B, H, W, 3]`` is padded at the
    bottom right with the mean colour to ``padded_shape`` (int32 ``[2]``, multiples of
    :data:`NETWORK_STRIDE`, at least ``(H, W)``), run, and cropped back. Both inputs are
    tensors of a shape-polymorphic signature, so calls never retrace. With ``probabilities``
    the graph ends in a softmax over the classes (multi-threaded, fused by TensorFlow: several
    times cheaper than a NumPy softmax of the 21-channel output). The closure holds the model
    weakly, so the cache does not keep it alive.
    """
    with _FORWARD_LOCK:
        cached = _FORWARD.setdefault(model, {})
        if probabilities in cached:
            return cached[probabilities]
        model_ref = weakref.ref(model)

        def run(rgb: tf.Tensor, padded_shape: tf.Tensor) -> tf.Tensor:
            net = model_ref()
            if net is None:  # pragma: no cover - traced only while the model is alive
                raise RuntimeError("the model was garbage-collected")
            batch = preprocess(rgb)
            shape = tf.shape(batch)
            height, width = shape[1], shape[2]
            tf.debugging.assert_equal(padded_shape % NETWORK_STRIDE, 0)
            padding = [[0, 0], [0, padded_shape[0] - height], [0, padded_shape[1] - width], [0, 0]]
            out = _infer(net, tf.pad(batch, padding))[:, :height, :width, :]
            return tf.nn.softmax(out, axis=-1) if probabilities else out

        forward: ForwardFn = tf.function(
            run,
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32),
                tf.TensorSpec([2], tf.int32),
            ],
        )
        cached[probabilities] = forward
        return forward


def _run(
    model: keras.Model,
    rgb_batch: tf.Tensor | np.ndarray,
    pad_to: tuple[int, int] | None,
    *,
    probabilities: bool,
) -> tf.Tensor:
    batch = _rgb_batch(rgb_batch)
    height, width = int(batch.shape[1]), int(batch.shape[2])
    if height == 0 or width == 0:
        raise ValueError(f"empty image: shape {batch.shape}")
    if pad_to is None:
        pad_to = bucket_shape(height, width, NETWORK_STRIDE)
    if (
        pad_to[0] < height
        or pad_to[1] < width
        or pad_to[0] % NETWORK_STRIDE
        or pad_to[1] % NETWORK_STRIDE
    ):
        raise ValueError(
            f"cannot pad {height}x{width} to {pad_to}: need multiples of {NETWORK_STRIDE} "
            "at least as large"
        )
    forward = _forward_fn(model, probabilities=probabilities)
    return forward(tf.cast(batch, tf.float32), tf.constant(pad_to, tf.int32))


def logits(
    model: keras.Model,
    rgb_batch: tf.Tensor | np.ndarray,
    *,
    pad_to: tuple[int, int] | None = None,
) -> tf.Tensor:
    """Logits ``[B, H, W, C]`` float32 of an RGB batch ``[B, H, W, 3]`` of any size.

    Preprocesses, pads with the mean colour to ``pad_to`` (default: the next multiples of 32;
    the segmenter passes its :func:`bucket_shape`), runs and crops back. Compilation policy:
    the work runs in a ``tf.function`` cached per model (see :func:`_forward_fn`), traced once
    for all input sizes; callers need not wrap it.
    """
    return _run(model, rgb_batch, pad_to, probabilities=False)


def probabilities(
    model: keras.Model,
    rgb_batch: tf.Tensor | np.ndarray,
    *,
    pad_to: tuple[int, int] | None = None,
) -> tf.Tensor:
    """Class probabilities: the softmax of :func:`logits`, computed inside the same graph."""
    return _run(model, rgb_batch, pad_to, probabilities=True)
