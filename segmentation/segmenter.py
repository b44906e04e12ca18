"""The inference boundary: a :class:`Segmenter` loads its weights once and maps an RGB photo
to per-pixel PASCAL VOC class probabilities. Backends plug in behind the same protocol:

* :class:`Fcn8sSegmenter` -- the project's Keras FCN-8s (``segmentation.fcn8s``), weights
  imported from the seed's checkpoint (``segmentation.weights``);
* :class:`TFLiteSegmenter` -- any 21-class PASCAL VOC ``.tflite`` model (e.g. DeepLabV3).

TensorFlow is imported lazily, inside the backends, so that importing this module (and
``stickerbot --help``) stays fast.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from segmentation.classes import NUM_CLASSES
from segmentation.errors import ModelUnavailable

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

FCN8S = "fcn8s"

# A model that outputs labels gives no confidence; its one-hot map is blurred with this sigma
# (as a fraction of the longer side) so the CRF sees soft, uncertain object edges.
LABEL_BLUR_SIGMA = 0.01
# Confidence given to the predicted label of a labels-only model before blurring.
LABEL_CONFIDENCE = 0.9


@runtime_checkable
class Segmenter(Protocol):
    """Per-pixel class probabilities from an RGB photo."""

    name: str
    backend: str
    device: str

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxWx21 float32 probabilities (summing to 1 per pixel)."""
        ...

    def warmup(self) -> None:
        """Run once on a dummy image so the first real photo pays no compilation."""
        ...


def load_segmenter(
    model: str = FCN8S,
    *,
    weights: Path | None = None,
    cache_dir: Path | None = None,
    num_threads: int | None = None,
) -> Segmenter:
    """Load a backend: ``"fcn8s"`` (Keras, imported weights) or a path to a ``.tflite`` file."""
    if model == FCN8S:
        return Fcn8sSegmenter.load(weights=weights, cache_dir=cache_dir)
    path = Path(model).expanduser()
    if path.suffix != ".tflite":
        raise ModelUnavailable(
            f"unknown model {model!r}: use {FCN8S!r} or a path to a .tflite file"
        )
    return TFLiteSegmenter(path, num_threads=num_threads)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return np.asarray(shifted, dtype=np.float32)


def labels_to_probabilities(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A soft probability map from hard labels: confident one-hot, blurred at the edges."""
    from skimage.filters import gaussian

    h, w = labels.shape
    rest = (1.0 - LABEL_CONFIDENCE) / (num_classes - 1)
    probs = np.full((h, w, num_classes), rest, dtype=np.float32)
    valid = labels < num_classes
    rows, cols = np.nonzero(valid)
    probs[rows, cols, labels[valid]] = LABEL_CONFIDENCE
    sigma = max(1.0, LABEL_BLUR_SIGMA * max(h, w))
    blurred = gaussian(probs, sigma=(sigma, sigma, 0), preserve_range=True)  # type: ignore[no-untyped-call]
    blurred = np.asarray(blurred, dtype=np.float32)
    blurred /= blurred.sum(axis=-1, keepdims=True)
    return blurred


def _device_name() -> str:
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU"


def _resize_probabilities(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxWxC map (probabilities or logits)."""
    if probs.shape[:2] == (height, width):
        return probs
    import tensorflow as tf

    resized = tf.image.resize(probs[np.newaxis], (height, width), method="bilinear")
    return np.asarray(resized[0], dtype=np.float32)


class TFLiteSegmenter:
    """Any PASCAL VOC 21-class TFLite model.

    Input: ``[1, H, W, 3]`` uint8 (raw pixels) or float32 (scaled to [-1, 1], the
    DeepLab/MobileNet convention). The photo is resized to fit the input keeping its aspect
    ratio and padded with mid-grey. Output: labels ``[1, H, W]`` (the pre-argmax logits are
    used when the graph exposes them, else a soft map is made from the labels) or
    logits/probabilities ``[1, H, W, 21]``, quantized or float.
    """

    backend = "tflite"

    def __init__(self, path: Path, *, num_threads: int | None = None) -> None:
        if not path.is_file():
            raise ModelUnavailable(f"TFLite model not found: {str(path)!r}")
        import tensorflow as tf

        self.name = path.name
        self.device = "CPU"
        threads = num_threads or os.cpu_count() or 1
        try:
            with warnings.catch_warnings():
                # tf.lite.Interpreter announces its move to the ai-edge-litert package.
                warnings.simplefilter("ignore", UserWarning)
                self._interpreter = self._open(tf, path, threads, preserve=False)
        except ValueError as exc:
            raise ModelUnavailable(f"cannot load TFLite model {str(path)!r}: {exc}") from exc
        inp = self._interpreter.get_input_details()[0]
        self._input_index: int = inp["index"]
        self._input_dtype = np.dtype(inp["dtype"])
        _, self._in_h, self._in_w, _ = (int(v) for v in inp["shape"])
        self._output = self._interpreter.get_output_details()[0]
        self._logits_index: int | None = None
        if len(self._output["shape"]) == 3:
            # Labels only: look for the pre-argmax [1, H, W, 21] logits inside the graph.
            logits = [
                d
                for d in self._interpreter.get_tensor_details()
                if tuple(d["shape"]) == (1, self._in_h, self._in_w, NUM_CLASSES)
            ]
            if logits:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    self._interpreter = self._open(tf, path, threads, preserve=True)
                self._logits = logits[-1]
                self._logits_index = logits[-1]["index"]
        elif tuple(self._output["shape"][1:]) != (self._in_h, self._in_w, NUM_CLASSES):
            raise ModelUnavailable(
                f"{path.name}: output shape {list(self._output['shape'])} is neither labels "
                f"[1,H,W] nor {NUM_CLASSES}-class scores [1,H,W,{NUM_CLASSES}]"
            )
        logger.info(
            "loaded %s: input %dx%d %s, %s",
            path.name,
            self._in_w,
            self._in_h,
            self._input_dtype,
            "logits"
            if self._logits_index is not None or len(self._output["shape"]) == 4
            else "labels",
        )

    @staticmethod
    def _open(tf: Any, path: Path, threads: int, *, preserve: bool) -> Any:
        interpreter = tf.lite.Interpreter(
            model_path=str(path), num_threads=threads, experimental_preserve_all_tensors=preserve
        )
        interpreter.allocate_tensors()
        return interpreter

    def warmup(self) -> None:
        self.predict(np.zeros((self._in_h, self._in_w, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = min(self._in_h / h, self._in_w / w)
        fit_h, fit_w = max(1, round(h * scale)), max(1, round(w * scale))
        from PIL import Image

        fitted = np.asarray(Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.BILINEAR))
        canvas = np.full((self._in_h, self._in_w, 3), 128, np.uint8)
        canvas[:fit_h, :fit_w] = fitted
        batch: np.ndarray
        if self._input_dtype == np.uint8:
            batch = canvas[np.newaxis]
        else:
            batch = (canvas[np.newaxis].astype(np.float32) / 127.5 - 1.0).astype(self._input_dtype)
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        if self._logits_index is not None:
            scores = self._dequantize(
                self._logits, self._interpreter.get_tensor(self._logits_index)
            )
            probs = softmax(scores[0, :fit_h, :fit_w])
        elif len(self._output["shape"]) == 3:
            labels = self._interpreter.get_tensor(self._output["index"])[0, :fit_h, :fit_w]
            probs = labels_to_probabilities(labels.astype(np.int64))
        else:
            raw = self._interpreter.get_tensor(self._output["index"])
            scores = self._dequantize(self._output, raw)[0, :fit_h, :fit_w]
            sums = scores.sum(axis=-1)
            is_probability = scores.min() >= 0 and np.allclose(sums, 1.0, atol=1e-2)
            probs = scores if is_probability else softmax(scores)
        resized = _resize_probabilities(probs, h, w)
        return np.asarray(resized / resized.sum(axis=-1, keepdims=True), dtype=np.float32)

    @staticmethod
    def _dequantize(details: dict[str, Any], values: np.ndarray) -> np.ndarray:
        scale, zero_point = details["quantization"]
        floats = np.asarray(values, dtype=np.float32)
        return floats if scale == 0 else (floats - np.float32(zero_point)) * np.float32(scale)


class Fcn8sSegmenter:
    """The project's Keras FCN-8s with weights imported from the seed's checkpoint."""

    backend = "keras"

    def __init__(self, model: keras.Model, name: str = FCN8S) -> None:
        self.name = name
        self.device = _device_name()
        self._model = model

    @classmethod
    def load(cls, *, weights: Path | None = None, cache_dir: Path | None = None) -> Fcn8sSegmenter:
        from segmentation.weights import load_fcn8s

        return cls(load_fcn8s(weights=weights, cache_dir=cache_dir))

    def warmup(self) -> None:
        self.predict(np.zeros((64, 64, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.fcn8s import logits

        scores = np.asarray(logits(self._model, rgb[np.newaxis]))[0]
        return softmax(scores)
