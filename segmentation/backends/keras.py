"""The project's Keras FCN-8s run by TensorFlow (the ``tensorflow`` backend, fp32).

TensorFlow is imported when the model loads, never when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segmentation.classes import VOC_CLASSES
from segmentation.export import FP32

if TYPE_CHECKING:
    import keras


def tensorflow_device() -> str:
    """``"GPU:0"`` when TensorFlow sees a GPU, else ``"CPU"``."""
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU"


class Fcn8sSegmenter:
    """The project's Keras FCN-8s with weights imported from the seed's checkpoint.

    Each photo is padded (with the mean colour) to its :func:`~segmentation.fcn8s.bucket_shape`
    and run through one ``tf.function`` traced once for every shape; :meth:`warmup` runs the
    :data:`~segmentation.fcn8s.WARMUP_BUCKETS`, so that no photo of the default inference side
    pays for kernel preparation. The softmax runs inside the graph.
    """

    backend = "tensorflow"
    precision = FP32
    classes: tuple[str, ...] = VOC_CLASSES

    def __init__(self, model: keras.Model, name: str = "fcn8s") -> None:
        self.name = name
        self.device = tensorflow_device()
        self._model = model

    @classmethod
    def load(cls, *, weights: Path | None = None, cache_dir: Path | None = None) -> Fcn8sSegmenter:
        from segmentation.weights import load_fcn8s

        return cls(load_fcn8s(weights=weights, cache_dir=cache_dir))

    def warmup(self) -> None:
        from segmentation.backends.fcn8s_input import WARMUP_BUCKETS

        for height, width in WARMUP_BUCKETS:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.backends.fcn8s_input import bucket_shape
        from segmentation.fcn8s import probabilities

        bucket = bucket_shape(*rgb.shape[:2])
        return np.asarray(probabilities(self._model, rgb[np.newaxis], pad_to=bucket)[0])
