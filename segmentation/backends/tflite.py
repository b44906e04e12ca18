"""TFLite models: any PASCAL VOC ``.tflite`` (DeepLabV3...) and FCN-8s's own exports.

Run by LiteRT's standalone runtime (``ai-edge-litert``) when it is installed: it starts in a
fraction of TensorFlow's import time and keeps the process a few hundred MB smaller. The
``tensorflow`` runtime (``tf.lite.Interpreter``) runs the same files where LiteRT is missing
or when asked for (``--backend tensorflow``).

* :class:`TFLiteSegmenter` -- any 21-class PASCAL VOC model;
* :class:`Fcn8sLiteSegmenter` -- FCN-8s exported per shape bucket (``stickerbot export``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from segmentation.backends.fcn8s_input import mean_padded
from segmentation.backends.probabilities import (
    dequantize,
    fit_into,
    fitted_size,
    labels_to_probabilities,
    quantized_softmax,
    resize_probabilities,
    scores_to_probabilities,
    softmax,
)
from segmentation.classes import NUM_CLASSES, VOC_CLASSES
from segmentation.errors import ModelUnavailable

logger = logging.getLogger(__name__)

LITERT: Final = "litert"
TF_LITE: Final = "tensorflow"
RUNTIMES: Final = (LITERT, TF_LITE)

# The backend name a segmenter reports for each runtime (what /stats and the CLI show).
BACKEND_OF_RUNTIME: Final = {LITERT: "tflite", TF_LITE: "tensorflow"}

# DeepLab's convention: float inputs are pixels scaled to [-1, 1]; padding is mid-grey.
PAD_GREY: Final = (128, 128, 128)

# A photo that fits the model's input is enlarged to fill it only when that enlarges it by
# more than this: DeepLab's 513 px input would otherwise enlarge every 512 px photo by 0.2 %,
# and the 21-class map would need a resize back (~30 ms, ~90 MB of temporaries) for nothing.
MIN_UPSCALE: Final = 1.1


def litert_available() -> bool:
    """Whether LiteRT's standalone runtime is installed (``pip install ai-edge-litert``)."""
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def open_interpreter(
    path: Path, *, threads: int, runtime: str = LITERT, preserve: bool = False
) -> tuple[Any, str]:
    """An allocated interpreter for ``path`` and the runtime that opened it.

    ``runtime`` :data:`LITERT` falls back to TensorFlow's interpreter when LiteRT is not
    installed. Raises :class:`ModelUnavailable` for a file neither can read.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown TFLite runtime {runtime!r}; expected one of {RUNTIMES}")
    if runtime == LITERT and litert_available():
        from ai_edge_litert.interpreter import Interpreter
    else:
        if runtime == LITERT:
            logger.info("ai-edge-litert is not installed: running %s with tf.lite", path.name)
        runtime = TF_LITE
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    try:
        with warnings.catch_warnings():
            # tf.lite.Interpreter announces its move to the ai-edge-litert package.
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(
                model_path=str(path),
                num_threads=threads,
                experimental_preserve_all_tensors=preserve,
            )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailable(f"cannot load TFLite model {str(path)!r}: {exc}") from exc
    return interpreter, runtime


def _threads(num_threads: int | None) -> int:
    return num_threads or os.cpu_count() or 1


class TFLiteSegmenter:
    """Any PASCAL VOC 21-class TFLite model.

    Input: ``[1, H, W, 3]`` uint8 (raw pixels) or float32 (scaled to [-1, 1], the
    DeepLab/MobileNet convention). The photo is resized to fit the input keeping its aspect
    ratio and padded with mid-grey. Output: labels ``[1, H, W]`` (the pre-argmax logits are
    used when the graph exposes them, else a soft map is made from the labels) or
    logits/probabilities ``[1, H, W, 21]``, quantized or float.
    """

    precision = "model"  # whatever the file was built with
    classes: tuple[str, ...] = VOC_CLASSES

    def __init__(
        self, path: Path, *, num_threads: int | None = None, runtime: str = LITERT
    ) -> None:
        if not path.is_file():
            raise ModelUnavailable(f"TFLite model not found: {str(path)!r}")
        self.name = path.name
        self.device = "CPU"
        threads = _threads(num_threads)
        self._interpreter, runtime = open_interpreter(path, threads=threads, runtime=runtime)
        self.runtime = runtime
        self.backend = BACKEND_OF_RUNTIME[runtime]
        inp = self._interpreter.get_input_details()[0]
        self._input_index: int = inp["index"]
        self._input_dtype = np.dtype(inp["dtype"])
        _, self._in_h, self._in_w, _ = (int(v) for v in inp["shape"])
        # The fixed input (height, width) any photo is fitted into (segmentation.tta tiles
        # enlarged photos into windows of this size).
        self.input_size = (self._in_h, self._in_w)
        self._output = self._interpreter.get_output_details()[0]
        self._logits_index: int | None = None
        if len(self._output["shape"]) == 3:
            # Labels only: look for the pre-argmax [1, H, W, 21] logits inside the graph.
            logits = [
                d
                for d in self._interpreter.get_tensor_details()
                if tuple(d["shape"]) == (1, self._in_h, self._in_w, NUM_CLASSES)
            ]
            final = self._final_op_inputs()
            direct = [d for d in logits if d["index"] in final]
            if direct:
                # An input of the op that writes the labels (the argmax, the last to run) is
                # still intact after invoke: no other tensor may reuse its memory.
                logits = direct
            elif logits:
                # Elsewhere in the graph, its memory is reused: keep every tensor (~2x RSS).
                self._interpreter, _ = open_interpreter(
                    path, threads=threads, runtime=runtime, preserve=True
                )
            if logits:
                self._logits = logits[-1]
                self._logits_index = logits[-1]["index"]
        elif tuple(self._output["shape"][1:]) != (self._in_h, self._in_w, NUM_CLASSES):
            raise ModelUnavailable(
                f"{path.name}: output shape {list(self._output['shape'])} is neither labels "
                f"[1,H,W] nor {NUM_CLASSES}-class scores [1,H,W,{NUM_CLASSES}]"
            )
        logger.info(
            "loaded %s with %s: input %dx%d %s, %s",
            path.name,
            runtime,
            self._in_w,
            self._in_h,
            self._input_dtype,
            "logits"
            if self._logits_index is not None or len(self._output["shape"]) == 4
            else "labels",
        )

    def _final_op_inputs(self) -> set[int]:
        """Tensor indices read by the op that writes the output (empty if unknown)."""
        # Both runtimes' interpreters list their ops (a private, long-stable method).
        details = getattr(self._interpreter, "_get_ops_details", None)
        if details is None:
            return set()
        output = self._output["index"]
        return {int(i) for op in details() if output in op["outputs"] for i in op["inputs"]}

    def warmup(self) -> None:
        self.predict(np.zeros((self._in_h, self._in_w, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        fit_h, fit_w = fitted_size(h, w, self._in_h, self._in_w, MIN_UPSCALE)
        canvas = fit_into(rgb, self._in_h, self._in_w, PAD_GREY, MIN_UPSCALE)
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
            probs = scores_to_probabilities(dequantize(raw, self._output["quantization"]))
        return resize_probabilities(probs, h, w)


class Fcn8sLiteSegmenter:
    """FCN-8s exported to TFLite (``stickerbot export``), one fixed-shape file per bucket.

    A photo is padded with the mean colour to the smallest exported bucket that holds it (a
    photo larger than every bucket is first shrunk to fit the largest), and the output is
    cropped (and, if shrunk, resized) back. Interpreters are opened on first use of a bucket;
    :meth:`warmup` opens and runs all of them.
    """

    classes: tuple[str, ...] = VOC_CLASSES

    def __init__(
        self,
        buckets: dict[tuple[int, int], Path],
        precision: str,
        *,
        num_threads: int | None,
        runtime: str = LITERT,
    ) -> None:
        from segmentation.segmenter import FCN8S

        if not buckets:
            raise ModelUnavailable(f"no exported FCN-8s {precision} model")
        self.name = f"{FCN8S}-{precision}"
        self.device = "CPU"
        self.precision = precision
        self.runtime = runtime if runtime == TF_LITE or litert_available() else TF_LITE
        self.backend = BACKEND_OF_RUNTIME[self.runtime]
        self._paths = dict(sorted(buckets.items(), key=lambda item: item[0][0] * item[0][1]))
        self._threads = _threads(num_threads)
        self._interpreters: dict[tuple[int, int], Any] = {}

    @classmethod
    def load(
        cls,
        precision: str,
        *,
        cache_dir: Path | None = None,
        num_threads: int | None = None,
        runtime: str = LITERT,
    ) -> Fcn8sLiteSegmenter:
        from segmentation.export import exported_buckets
        from segmentation.models.store import cache_root

        cache = cache_root(cache_dir)
        buckets = exported_buckets(cache, precision)
        if not buckets:
            raise ModelUnavailable(
                f"no FCN-8s {precision} export in {cache}: run `stickerbot export --precision "
                f"{precision}` (after `stickerbot weights download`)"
            )
        return cls(buckets, precision, num_threads=num_threads, runtime=runtime)

    def _interpreter(self, bucket: tuple[int, int]) -> Any:
        interpreter = self._interpreters.get(bucket)
        if interpreter is None:
            path = self._paths[bucket]
            interpreter, _ = open_interpreter(path, threads=self._threads, runtime=self.runtime)
            shape = tuple(int(v) for v in interpreter.get_input_details()[0]["shape"][1:3])
            if shape != bucket:
                raise ModelUnavailable(f"{path.name}: input {shape} does not match its name")
            self._interpreters[bucket] = interpreter
        return interpreter

    def warmup(self) -> None:
        for height, width in self._paths:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        fitting = [b for b in self._paths if b[0] >= h and b[1] >= w]
        if fitting:
            bucket, fitted = fitting[0], rgb
        else:
            bucket = max(self._paths, key=lambda b: min(b[0] / h, b[1] / w))
            fit_h, fit_w = fitted_size(h, w, *bucket)
            fitted = np.asarray(
                Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.LANCZOS)
            )
        interpreter = self._interpreter(bucket)
        fit_h, fit_w = fitted.shape[:2]
        interpreter.set_tensor(
            interpreter.get_input_details()[0]["index"], mean_padded(fitted, *bucket)
        )
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        return resize_probabilities(softmax(scores[0, :fit_h, :fit_w]), h, w)
