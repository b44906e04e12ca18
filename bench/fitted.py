"""FCN-8s weights that segment real photos, for timing and precision agreement without the
seed's checkpoint (it cannot be downloaded here).

A network with random weights gives an argmax that is noise (ties everywhere), so "the
int8 argmax agrees with fp32 on 98 % of pixels" would say nothing. Instead:

* the VGG-16 backbone and fc6/fc7 keep random He-normal weights (exact seed shapes, so the
  FLOPs, memory traffic and activation statistics of the real network);
* the three score layers (fc8, pool4_fc, pool3_fc) are fitted by ridge regression so that
  the network's output reproduces DeepLabV3's log-probabilities on real photos. The FCN-8s
  output at 1/8 resolution is linear in those three layers jointly (the fixed bilinear
  upsamplings are linear), so the fit is one least-squares solve on random-feature
  activations.

The result segments the photos into blobs that follow DeepLab's (coarser, since random
features are weaker than ImageNet-trained ones) with realistic logit margins. Caveats: the
fit uses the benchmark photos themselves, and the backbone's activation ranges are those of
a random network, not of the seed's trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

# Ridge penalty, relative to the mean diagonal of the normal matrix: enough to keep the
# 4,865-unknown solve well conditioned on ~30k rows without visibly underfitting.
RIDGE: Final = 1e-3

# Every this-many-th row of the /8 feature grid enters the fit (keeps X^T X cheap).
ROW_STRIDE: Final = 2

# Seed of the random backbone: the same weights in every run.
SEED: Final = 0


def fitted_fcn8s(photos: Sequence[np.ndarray], teacher: Any) -> Any:
    """The seed-shaped Keras FCN-8s with its score layers fitted to ``teacher`` on ``photos``.

    ``photos`` are ``H x W x 3`` uint8 at inference size; ``teacher`` is a Segmenter whose
    probabilities are the regression target (DeepLab).
    """
    import keras
    import tensorflow as tf

    from segmentation.fcn8s import bilinear_kernel, bucket_shape, build_fcn8s, preprocess

    keras.utils.set_random_seed(SEED)
    model = build_fcn8s(kernel_initializer="he_normal")
    layer = model.get_layer
    probe = keras.Model(
        model.input,
        [layer("pool3").output, layer("pool4").output, layer("fc7").output],
    )
    up2 = tf.constant(bilinear_kernel(2, 1))

    def upsample(x: tf.Tensor) -> tf.Tensor:
        """The model's x2 bilinear transposed conv, channel by channel (channels as batch)."""
        channels = tf.transpose(x, [3, 1, 2, 0])
        shape = tf.shape(channels)
        out = tf.nn.conv2d_transpose(
            channels, up2, [shape[0], 2 * shape[1], 2 * shape[2], 1], 2, "SAME"
        )
        return tf.transpose(out, [3, 1, 2, 0])

    rows: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for rgb in photos:
        h, w = rgb.shape[:2]
        bh, bw = bucket_shape(h, w)
        batch = tf.pad(preprocess(rgb[np.newaxis]), [[0, 0], [0, bh - h], [0, bw - w], [0, 0]])
        pool3, pool4, fc7 = probe(batch, training=False)
        features = tf.concat([pool3, upsample(pool4), upsample(upsample(fc7))], axis=-1)[0]
        gh, gw = -(-h // 8), -(-w // 8)
        grid = np.asarray(features[:gh:ROW_STRIDE, :gw], np.float32).reshape(-1, features.shape[-1])
        probs = teacher.predict(rgb)
        pad = np.zeros((gh * 8, gw * 8, probs.shape[-1]), np.float32)
        pad[:h, :w] = np.log(np.clip(probs, 1e-4, 1.0))
        pad[h:, :] = pad[h - 1 : h, :]
        pad[:, w:] = pad[:, w - 1 : w]
        coarse = pad.reshape(gh, 8, gw, 8, -1).mean(axis=(1, 3))[::ROW_STRIDE]
        rows.append(grid)
        targets.append(coarse.reshape(-1, coarse.shape[-1]))
    x = np.concatenate(rows)
    y = np.concatenate(targets)
    x = np.concatenate([x, np.ones((len(x), 1), np.float32)], axis=1)
    gram = (x.T @ x).astype(np.float64)
    gram[np.diag_indices_from(gram)] += RIDGE * np.trace(gram) / len(gram)
    solution = np.linalg.solve(gram, (x.T @ y).astype(np.float64)).astype(np.float32)
    n3 = layer("pool3_fc").kernel.shape[2]
    n4 = layer("pool4_fc").kernel.shape[2]
    w3, w4, w7, bias = np.split(solution, [n3, n3 + n4, len(solution) - 1])
    classes = y.shape[1]
    layer("pool3_fc").set_weights([w3.reshape(1, 1, n3, classes), bias[0]])
    layer("pool4_fc").set_weights([w4.reshape(1, 1, n4, classes), np.zeros(classes, np.float32)])
    layer("fc8").set_weights([w7.reshape(1, 1, -1, classes), np.zeros(classes, np.float32)])
    return model
