"""A model trained by ``stickerbot train`` (``NAME.model.json`` + weights), on TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segmentation.backends.keras import tensorflow_device
from segmentation.export import FP32

if TYPE_CHECKING:
    import keras


class TrainedSegmenter:
    """A model trained by ``stickerbot train``: any stage, any backbone width, its own classes.

    FCN-8s runs through the same graph as :class:`Fcn8sSegmenter`; FCN-32s and FCN-16s (and
    a model being trained in mixed precision) run their Keras layers (preprocess, pad to /32,
    run, softmax, crop in one ``tf.function``).
    """

    backend = "tensorflow"
    precision = FP32

    def __init__(self, model: keras.Model, classes: tuple[str, ...], name: str) -> None:
        self.name = name
        self.device = tensorflow_device()
        self.classes = classes
        self._model = model
        self._forward: Any = None

    @classmethod
    def load(cls, path: Path) -> TrainedSegmenter:
        from segmentation.trained import METADATA_SUFFIX, load_model

        model, info = load_model(path)
        return cls(model, info.classes, Path(path).name.removesuffix(METADATA_SUFFIX))

    def warmup(self) -> None:
        self.predict(np.zeros((64, 64, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.fcn8s import bucket_shape, probabilities

        bucket = bucket_shape(*rgb.shape[:2])
        # FCN-8s's faster inference kernels compute in float32; a model built for mixed
        # precision (validation during training on a GPU) runs its own layers.
        if self._model.name == "fcn8s" and self._model.get_layer("fc6").compute_dtype == "float32":
            return np.asarray(probabilities(self._model, rgb[np.newaxis], pad_to=bucket)[0])
        if self._forward is None:
            self._forward = _keras_forward(self._model)
        import tensorflow as tf

        out = self._forward(tf.constant(rgb[np.newaxis], tf.float32), tf.constant(bucket))
        return np.asarray(out[0])


def _keras_forward(model: keras.Model) -> Any:
    """``forward(rgb [1,H,W,3] float32, padded_shape int32 [2])`` -> probabilities [1,H,W,C]."""
    import tensorflow as tf

    from segmentation.fcn8s import preprocess

    def run(rgb: tf.Tensor, padded_shape: tf.Tensor) -> tf.Tensor:
        batch = preprocess(rgb)
        height, width = tf.shape(batch)[1], tf.shape(batch)[2]
        padding = [[0, 0], [0, padded_shape[0] - height], [0, padded_shape[1] - width], [0, 0]]
        out = model(tf.pad(batch, padding), training=False)[:, :height, :width, :]
        return tf.nn.softmax(tf.cast(out, tf.float32), axis=-1)

    return tf.function(
        run,
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([2], tf.int32),
        ],
    )
