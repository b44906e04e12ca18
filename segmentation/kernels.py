"""Faster equivalents of FCN-8s layers, used by inference (:func:`segmentation.fcn8s.logits`).

The Keras layers stay the model: weights are keyed by them and the TFLite export runs them.
Inference computes the same functions in ways TensorFlow runs faster on a CPU; tests pin each
one to the layer it stands for (``tests/segmentation/test_kernels.py``).

* :func:`dense_head` -- fc6, fc7, fc8 as three matrix products compiled by XLA;
* :func:`bilinear_upsample` -- the fixed bilinear transposed convolutions as a resize.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

# --- fc6 -> fc8 -----------------------------------------------------------------------------


def _dense_head(
    features: tf.Tensor,
    fc6_kernel: tf.Tensor,
    fc6_bias: tf.Tensor,
    fc7_kernel: tf.Tensor,
    fc7_bias: tf.Tensor,
    fc8_kernel: tf.Tensor,
    fc8_bias: tf.Tensor,
) -> tf.Tensor:
    """fc6 (k x k SAME conv + ReLU) -> fc7 (1x1 + ReLU) -> fc8 (1x1) of pool5, by XLA.

    fc6 is a 7x7 convolution of a small map (16 x 16 at 512 px) with 411 MB of weights:
    TensorFlow's convolution and MatMul kernels re-pack that matrix at every call and run at
    about half this CPU's GEMM rate. The same product of the image patches
    (``[positions, 7*7*512] @ [7*7*512, 4096]``) compiled by XLA runs ~1.5x faster, fc7's
    1x1 convolution ~1.6-2x.
    """
    size = int(fc6_kernel.shape[0])
    patches = tf.image.extract_patches(
        features, [1, size, size, 1], [1, 1, 1, 1], [1, 1, 1, 1], padding="SAME"
    )
    shape = tf.shape(patches)
    rows = tf.reshape(patches, [-1, int(patches.shape[-1])])
    hidden = tf.nn.relu(rows @ tf.reshape(fc6_kernel, [rows.shape[-1], -1]) + fc6_bias)
    hidden = tf.nn.relu(hidden @ fc7_kernel[0, 0] + fc7_bias)
    scores = hidden @ fc8_kernel[0, 0] + fc8_bias
    return tf.reshape(scores, [shape[0], shape[1], shape[2], -1])


dense_head: Callable[..., tf.Tensor] = tf.function(_dense_head, jit_compile=True)


# --- upsampling -----------------------------------------------------------------------------


def bilinear_upsample(scores: tf.Tensor, factor: int) -> tf.Tensor:
    """What FCN-8s's frozen ``Conv2DTranspose`` of
    :func:`~segmentation.fcn8s.bilinear_kernel` computes, without its dense ``C x C`` kernel.

    That transposed convolution (kernel ``2f``, stride ``f``, SAME) upsamples each class on
    its own by half-pixel bilinear interpolation in which samples beyond the border count as
    zero: output pixel ``i`` of an axis reads input position ``(i + 0.5) / f - 0.5``. Padding
    one ring of zeros and resizing with half-pixel centres computes exactly that, ~4x faster
    at x8 (the transposed convolution multiplies 21 x 21 x 16 x 16 kernels, mostly zeros).
    """
    batch = tf.pad(scores, [[0, 0], [1, 1], [1, 1], [0, 0]])
    shape = tf.shape(batch)
    resized = tf.image.resize(batch, [shape[1] * factor, shape[2] * factor], method="bilinear")
    return resized[:, factor:-factor, factor:-factor, :]
