"""The inference boundary: a :class:`Segmenter` loads its weights once and maps an RGB photo
to per-pixel PASCAL VOC class probabilities. Backends plug in behind the same protocol:

* :class:`Fcn8sSegmenter` -- the project's Keras FCN-8s (``segmentation.fcn8s``), weights
  imported from the seed's checkpoint (``segmentation.weights``);
* :class:`Fcn8sLiteSegmenter` -- the same FCN-8s exported to TFLite at a reduced precision
  (``stickerbot export``, ``segmentation.export``);
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
from segmentation.export import FP32

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

FCN8S = "fcn8s"

# A model that outputs labels gives no confidence; its one-hot map is blurred with this sigma
# (as a fraction of the longer side) so the CRF sees soft, uncertain object edges.
LABEL_BLUR_SIGMA = 0.01
# Confidence given to the predicted label of a labels-only model before blurring.
LABEL_CONFIDENCE = 0.9

# quantized_softmax's lookup table holds exp(scale * (code - max_code)) for every code; over
# this logit range the smallest entry would fall below float32's normal range (exp(-87)).
MAX_LUT_LOGIT_RANGE = 80.0


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
    precision: str = FP32,
) -> Segmenter:
    """Load a backend: ``"fcn8s"``, a path to a ``.tflite`` file or to a DeepLab frozen graph
    ``.pb`` (:mod:`segmentation.frozen_graph`).

    FCN-8s runs in Keras at ``precision="fp32"`` (the default, the most accurate); any other
    of :data:`segmentation.export.PRECISIONS` loads the TFLite files ``stickerbot export
    --precision P`` wrote into the cache (``int8-dynamic`` is the fastest on CPU). The
    precision of a ``.tflite`` model is whatever it was built with; asking for another is an
    error.
    """
    from segmentation.export import check_precision

    try:
        check_precision(precision)
    except ValueError as exc:
        raise ModelUnavailable(str(exc)) from exc
    if model == FCN8S:
        if precision == FP32:
            return Fcn8sSegmenter.load(weights=weights, cache_dir=cache_dir)
        return Fcn8sLiteSegmenter.load(precision, cache_dir=cache_dir, num_threads=num_threads)
    path = Path(model).expanduser()
    if path.suffix == ".pb" and precision == FP32:
        from segmentation.frozen_graph import FrozenGraphSegmenter

        return FrozenGraphSegmenter(path)
    if path.suffix not in (".tflite", ".pb"):
        raise ModelUnavailable(
            f"unknown model {model!r}: use {FCN8S!r} or a path to a .tflite or .pb file"
        )
    if precision != FP32:
        raise ModelUnavailable(
            f"--precision applies to {FCN8S!r}; {path.name} runs at its own precision"
        )
    return TFLiteSegmenter(path, num_threads=num_threads)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return np.asarray(shifted, dtype=np.float32)


def quantized_softmax(
    values: np.ndarray, quantization: tuple[float, int], axis: int = -1
) -> np.ndarray:
    """Softmax of affine-quantized scores ``scale * (values - zero_point)`` (uint8 or int8).

    With 8-bit values there are only 256 distinct exponentials: they come from a lookup
    table, so the work is one gather, one sum and one division (about 4x cheaper than
    dequantizing and calling :func:`softmax`). The table is centred on the largest code, so
    no per-pixel maximum is needed as long as the widest logit range,
    ``scale * 255``, keeps every exponential a normal float32 (:data:`MAX_LUT_LOGIT_RANGE`);
    wider ranges (or a zero scale, i.e. float values) fall back to :func:`softmax`.
    """
    scale, zero_point = float(quantization[0]), int(quantization[1])
    if values.dtype not in (np.uint8, np.int8) or not 0 < scale * 255 <= MAX_LUT_LOGIT_RANGE:
        floats = np.asarray(values, dtype=np.float32)
        return softmax(floats if scale == 0 else (floats - zero_point) * np.float32(scale), axis)
    info = np.iinfo(values.dtype)
    codes = np.arange(info.min, info.max + 1, dtype=np.float32)
    table = np.exp(np.float32(scale) * (codes - np.float32(info.max)), dtype=np.float32)
    indices = values.view(np.uint8)  # int8 codes -128..127 land at table indices 128..255, 0..127
    if values.dtype == np.int8:
        table = np.roll(table, -128)
    exps = np.moveaxis(table[indices], axis, -1)
    # A matrix-vector product sums the short class axis ~3x faster than ndarray.sum.
    sums = exps @ np.ones(exps.shape[-1], dtype=np.float32)
    exps *= np.reciprocal(sums)[..., np.newaxis]
    return np.moveaxis(exps, -1, axis)


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


def _normalised(probs: np.ndarray) -> np.ndarray:
    """``probs`` (float32, classes last) scaled to sum to 1 per pixel.

    A matrix-vector product sums the short class axis ~3x faster than ``ndarray.sum``.
    """
    probs = np.asarray(probs, dtype=np.float32)
    sums = probs @ np.ones(probs.shape[-1], np.float32)
    return np.asarray(probs * np.reciprocal(sums)[..., np.newaxis], dtype=np.float32)


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

        fitted = (
            rgb
            if (fit_h, fit_w) == (h, w)
            else np.asarray(Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.BILINEAR))
        )
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
            raw = self._interpreter.get_tensor(self._logits_index)[0, :fit_h, :fit_w]
            probs = quantized_softmax(raw, self._logits["quantization"])
        elif len(self._output["shape"]) == 3:
            labels = self._interpreter.get_tensor(self._output["index"])[0, :fit_h, :fit_w]
            probs = labels_to_probabilities(labels.astype(np.int64))
        else:
            raw = self._interpreter.get_tensor(self._output["index"])[0, :fit_h, :fit_w]
            scores = self._dequantize(self._output, raw)
            sums = scores.sum(axis=-1)
            is_probability = scores.min() >= 0 and np.allclose(sums, 1.0, atol=1e-2)
            probs = scores if is_probability else softmax(scores)
        if probs.shape[:2] == (h, w):
            return np.asarray(probs, dtype=np.float32)
        resized = _resize_probabilities(probs, h, w)
        return _normalised(resized)

    @staticmethod
    def _dequantize(details: dict[str, Any], values: np.ndarray) -> np.ndarray:
        scale, zero_point = details["quantization"]
        floats = np.asarray(values, dtype=np.float32)
        return floats if scale == 0 else (floats - np.float32(zero_point)) * np.float32(scale)


class Fcn8sSegmenter:
    """The project's Keras FCN-8s with weights imported from the seed's checkpoint.

    Each photo is padded (with the mean colour) to its :func:`~segmentation.fcn8s.bucket_shape`
    and run through one ``tf.function`` traced once for every shape; :meth:`warmup` runs the
    :data:`~segmentation.fcn8s.WARMUP_BUCKETS`, so that no photo of the default inference side
    pays for kernel preparation. The softmax runs inside the graph.
    """

    backend = "keras"
    precision = FP32

    def __init__(self, model: keras.Model, name: str = FCN8S) -> None:
        self.name = name
        self.device = _device_name()
        self._model = model

    @classmethod
    def load(cls, *, weights: Path | None = None, cache_dir: Path | None = None) -> Fcn8sSegmenter:
        from segmentation.weights import load_fcn8s

        return cls(load_fcn8s(weights=weights, cache_dir=cache_dir))

    def warmup(self) -> None:
        from segmentation.fcn8s import WARMUP_BUCKETS

        for height, width in WARMUP_BUCKETS:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.fcn8s import bucket_shape, probabilities

        bucket = bucket_shape(*rgb.shape[:2])
        return np.asarray(probabilities(self._model, rgb[np.newaxis], pad_to=bucket)[0])


class Fcn8sLiteSegmenter:
    """FCN-8s exported to TFLite (``stickerbot export``), one fixed-shape file per bucket.

    A photo is padded with the mean colour to the smallest exported bucket that holds it (a
    photo larger than every bucket is first shrunk to fit the largest), and the output is
    cropped (and, if shrunk, resized) back. Interpreters are opened on first use of a bucket;
    :meth:`warmup` opens and runs all of them.
    """

    backend = "tflite"

    def __init__(
        self, buckets: dict[tuple[int, int], Path], precision: str, *, num_threads: int | None
    ) -> None:
        if not buckets:
            raise ModelUnavailable(f"no exported FCN-8s {precision} model")
        self.name = f"{FCN8S}-{precision}"
        self.device = "CPU"
        self.precision = precision
        self._paths = dict(sorted(buckets.items(), key=lambda item: item[0][0] * item[0][1]))
        self._threads = num_threads or os.cpu_count() or 1
        self._interpreters: dict[tuple[int, int], Any] = {}

    @classmethod
    def load(
        cls, precision: str, *, cache_dir: Path | None = None, num_threads: int | None = None
    ) -> Fcn8sLiteSegmenter:
        from segmentation.export import exported_buckets
        from segmentation.weights import default_cache_dir

        cache = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
        buckets = exported_buckets(cache, precision)
        if not buckets:
            raise ModelUnavailable(
                f"no FCN-8s {precision} export in {cache}: run `stickerbot export --precision "
                f"{precision}` (after `stickerbot weights download`)"
            )
        return cls(buckets, precision, num_threads=num_threads)

    def _interpreter(self, bucket: tuple[int, int]) -> Any:
        interpreter = self._interpreters.get(bucket)
        if interpreter is None:
            import tensorflow as tf

            path = self._paths[bucket]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    interpreter = tf.lite.Interpreter(
                        model_path=str(path), num_threads=self._threads
                    )
                interpreter.allocate_tensors()
            except ValueError as exc:
                raise ModelUnavailable(f"cannot load {str(path)!r}: {exc}") from exc
            shape = tuple(int(v) for v in interpreter.get_input_details()[0]["shape"][1:3])
            if shape != bucket:
                raise ModelUnavailable(f"{path.name}: input {shape} does not match its name")
            self._interpreters[bucket] = interpreter
        return interpreter

    def warmup(self) -> None:
        for height, width in self._paths:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.export import mean_padded

        h, w = rgb.shape[:2]
        fitting = [b for b in self._paths if b[0] >= h and b[1] >= w]
        if fitting:
            bucket, fitted = fitting[0], rgb
        else:
            from PIL import Image

            bucket = max(self._paths, key=lambda b: min(b[0] / h, b[1] / w))
            scale = min(bucket[0] / h, bucket[1] / w)
            size = (
                max(1, min(bucket[1], round(w * scale))),
                max(1, min(bucket[0], round(h * scale))),
            )
            fitted = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        interpreter = self._interpreter(bucket)
        fit_h, fit_w = fitted.shape[:2]
        interpreter.set_tensor(
            interpreter.get_input_details()[0]["index"], mean_padded(fitted, *bucket)
        )
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        probs = softmax(scores[0, :fit_h, :fit_w])
        if (fit_h, fit_w) == (h, w):
            return probs
        resized = _resize_probabilities(probs, h, w)
        return _normalised(resized)
