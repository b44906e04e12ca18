"""A tiny TFLite model built on the fly (needs TensorFlow to build, not to run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segmentation.classes import NUM_CLASSES, class_index

CAT = class_index("cat")
SIDE = 64


def bright_is_cat_model(tmp_path: Path, output: str) -> Path:
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


def bright_square_photo() -> np.ndarray:
    """A photo the model above sees a cat in: a bright red rectangle."""
    rgb = np.zeros((48, 80, 3), np.uint8)  # not the model's size: resized and padded
    rgb[10:40, 20:60, 0] = 255
    return rgb
