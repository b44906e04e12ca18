"""FCN-8s's input conventions, without TensorFlow: what a runtime that only executes the
converted network (TFLite, OpenVINO) needs to feed it the way Keras does.
"""

from __future__ import annotations

from typing import Final

import numpy as np

# Per-channel RGB means subtracted by the seed (TF-Slim's vgg_preprocessing _R/_G/_B_MEAN,
# ImageNet's means); the network was trained on RGB minus these, in [0, 255] units.
VGG_MEANS: Final[tuple[float, float, float]] = (123.68, 116.78, 103.94)

# Five stride-2 poolings: the input sides must be multiples of 2**5 for the skips to line up.
NETWORK_STRIDE: Final = 32

# Inference pads each photo up to a "bucket": both sides rounded up to a multiple of this.
# Few distinct shapes means every shape's kernels (oneDNN primitives, XNNPACK plans, one
# exported TFLite file each) are prepared once, at warm-up. 128 puts a 3:2 or 4:3 photo of
# the default 512 px inference side in 512 x 384 (3:2 wastes 12 % on padding; rounding to
# /32 would save that but multiply the shapes by 4).
BUCKET_STEP: Final = 128

# The buckets of photos at the default 512 px inference side (landscape, portrait, square):
# compiled/warmed at start-up and exported to TFLite. Other shapes still work (the Keras
# graph takes any size; they are just prepared on first use).
WARMUP_BUCKETS: Final[tuple[tuple[int, int], ...]] = ((384, 512), (512, 384), (512, 512))


def bucket_shape(height: int, width: int, step: int = BUCKET_STEP) -> tuple[int, int]:
    """The padded input shape of a ``height x width`` photo: each side rounded up to ``step``."""
    if height < 1 or width < 1:
        raise ValueError(f"empty image: {height}x{width}")
    if step < 1 or step % NETWORK_STRIDE:
        raise ValueError(f"bucket step must be a positive multiple of {NETWORK_STRIDE}: {step}")
    return (-(-height // step) * step, -(-width // step) * step)


def mean_padded(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """``rgb`` (``h x w x 3``) at the top left of a float32 ``[1, height, width, 3]`` canvas
    filled with :data:`VGG_MEANS` (zero after the model's preprocessing,
    exactly what :func:`segmentation.fcn8s.pad_to_multiple` pads with)."""
    h, w = rgb.shape[:2]
    if h > height or w > width:
        raise ValueError(f"a {h}x{w} image does not fit a {height}x{width} canvas")
    canvas = np.empty((1, height, width, 3), np.float32)
    canvas[...] = np.asarray(VGG_MEANS, np.float32)
    canvas[0, :h, :w] = rgb
    return canvas
