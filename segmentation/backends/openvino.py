"""OpenVINO runs FCN-8s (converted once from the Keras model) and the TFLite VOC models.

``pip install 'stickerbot[openvino]'``. On a CPU with native bfloat16 (AVX512-BF16, AMX)
OpenVINO's bf16 kernels run FCN-8s several times faster than float32 at an argmax agreement
the benchmark checks on real photos (``python -m bench``); the default stays float32.

FCN-8s is converted from the Keras model (:func:`convert_fcn8s`, needs TensorFlow) into
OpenVINO's IR, cached beside the weights under a name keyed by the weights' SHA-256 and the
OpenVINO version (:func:`ir_path`); later loads read the IR and never import TensorFlow.
The IR takes raw RGB (0..255, float32) of any size that is a multiple of 32, subtracts the
VGG means and ends in a softmax.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from segmentation.backends.fcn8s_input import WARMUP_BUCKETS, bucket_shape, mean_padded
from segmentation.backends.probabilities import (
    fit_into,
    fitted_size,
    labels_to_probabilities,
    resize_probabilities,
    scores_to_probabilities,
)
from segmentation.backends.tflite import MIN_UPSCALE, PAD_GREY
from segmentation.classes import NUM_CLASSES, VOC_CLASSES
from segmentation.errors import ModelUnavailable
from segmentation.export import FP32
from segmentation.models.digests import file_sha256

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

BACKEND: Final = "openvino"
BF16: Final = "bf16"
AUTO: Final = "auto"
# What this backend computes in; ``auto`` is bf16 where the CPU has it natively, else fp32.
PRECISIONS: Final = (AUTO, FP32, BF16)
_HINTS: Final = {FP32: "f32", BF16: "bf16"}
_DEVICE: Final = "CPU"

# Characters of the weights' SHA-256 in the cached IR's name.
DIGEST_CHARS: Final = 16


def openvino_available() -> bool:
    """Whether OpenVINO is installed (``pip install 'stickerbot[openvino]'``)."""
    return importlib.util.find_spec("openvino") is not None


def _openvino() -> Any:
    if not openvino_available():
        raise ModelUnavailable(
            "the openvino backend needs OpenVINO: pip install 'stickerbot[openvino]'"
        )
    import openvino

    return openvino


def native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively on this CPU."""
    core = _openvino().Core()
    return "BF16" in core.get_property(_DEVICE, "OPTIMIZATION_CAPABILITIES")


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` where the CPU has native bfloat16, else ``fp32``; others as is."""
    if precision not in PRECISIONS:
        raise ModelUnavailable(
            f"the openvino backend computes in {', '.join(PRECISIONS)}; got {precision!r}"
        )
    if precision == AUTO:
        return BF16 if native_bf16() else FP32
    return precision


def weights_digest(weights: Path) -> str:
    """The first :data:`DIGEST_CHARS` hex digits of the weights file's SHA-256 (read only
    when the file changed since it was last hashed: :func:`file_sha256`)."""
    return file_sha256(weights)[:DIGEST_CHARS]


def ir_path(weights: Path) -> Path:
    """Where the IR converted from ``weights`` is cached: beside them, keyed by their hash
    and the installed OpenVINO version (a new version converts again)."""
    version = _openvino().__version__.split("-")[0]
    stem = weights.name.removesuffix(".weights.h5").removesuffix(".h5")
    return weights.with_name(f"{stem}.{weights_digest(weights)}.openvino-{version}.xml")


def converted_fcn8s(model: keras.Model) -> Any:
    """The Keras FCN-8s ``model`` as an OpenVINO model (imports TensorFlow).

    The graph is the model's own layers with the preprocessing and the softmax inside; the
    weights stay float32 (the precision is chosen at compile time).
    """
    ov = _openvino()
    import tensorflow as tf

    from segmentation.backends.fcn8s_input import VGG_MEANS

    means = tf.constant(VGG_MEANS, tf.float32)

    def forward(rgb: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(model(rgb - means, training=False), axis=-1)

    signature = [tf.TensorSpec([1, None, None, 3], tf.float32)]
    return ov.convert_model(tf.function(forward, input_signature=signature))


def convert_fcn8s(model: keras.Model, xml: Path) -> Path:
    """Convert the Keras FCN-8s ``model`` to an OpenVINO IR at ``xml`` (and ``.bin``).

    Files are written under temporary names and renamed, so a reader never sees half an IR.
    """
    ov = _openvino()
    converted = converted_fcn8s(model)
    partial = xml.with_name(f".{xml.stem}.{os.getpid()}.xml")
    try:
        ov.save_model(converted, partial, compress_to_fp16=False)
        partial.with_suffix(".bin").replace(xml.with_suffix(".bin"))
        partial.replace(xml)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_suffix(".bin").unlink(missing_ok=True)
    logger.info("converted FCN-8s to OpenVINO IR %s", xml)
    return xml


def _compile(model: Any, precision: str, num_threads: int | None) -> tuple[Any, str]:
    """The model compiled for the CPU at ``precision`` and the precision actually used."""
    ov = _openvino()
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": _HINTS[precision],
        "PERFORMANCE_HINT": "LATENCY",
    }
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = num_threads
    compiled = ov.Core().compile_model(model, _DEVICE, config)
    # An openvino.Type: "<Type: 'bfloat16'>" or "<Type: 'float32'>".
    used = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    actual = BF16 if "bfloat16" in used else FP32
    if actual != precision:
        logger.warning("OpenVINO computes in %s on this CPU (asked for %s)", actual, precision)
    return compiled, actual


class OpenVinoFcn8sSegmenter:
    """FCN-8s from its cached OpenVINO IR (converted on first use).

    Photos are padded with the mean colour to their :func:`bucket_shape` (as the Keras
    backend does, so both see the same input); the IR takes any such shape.
    """

    backend = BACKEND
    classes: tuple[str, ...] = VOC_CLASSES

    def __init__(
        self, xml: Path | Any, *, precision: str = FP32, num_threads: int | None = None
    ) -> None:
        """``xml``: the IR's path, or an OpenVINO model already in memory."""
        ov = _openvino()
        self.name = "fcn8s"
        self.device = _DEVICE
        model = ov.Core().read_model(xml) if isinstance(xml, Path) else xml
        self._compiled, self.precision = _compile(model, resolve_precision(precision), num_threads)
        self._request = self._compiled.create_infer_request()

    @classmethod
    def load(
        cls,
        *,
        weights: Path | None = None,
        cache_dir: Path | None = None,
        precision: str = FP32,
        num_threads: int | None = None,
    ) -> OpenVinoFcn8sSegmenter:
        """From the IR cached beside ``weights`` (default: the cache's), converting first if
        there is none for these weights and this OpenVINO version."""
        from segmentation.models.store import FCN8S_WEIGHTS_FILENAME, cache_root

        default = cache_root(cache_dir) / FCN8S_WEIGHTS_FILENAME
        path = default if weights is None else Path(weights).expanduser()
        xml = ir_path(path) if path.is_file() else None
        if xml is None or not xml.is_file():
            from segmentation.weights import load_fcn8s

            # Raises ModelUnavailable, saying how to get them, when the weights are missing.
            model = load_fcn8s(weights=path, cache_dir=cache_dir)
            xml = ir_path(path)
            try:
                convert_fcn8s(model, xml)
            except OSError as exc:
                logger.warning(
                    "cannot cache the OpenVINO IR at %s (%s): converted for this process only",
                    xml,
                    exc,
                )
                return cls(converted_fcn8s(model), precision=precision, num_threads=num_threads)
        return cls(xml, precision=precision, num_threads=num_threads)

    def warmup(self) -> None:
        for height, width in WARMUP_BUCKETS:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        batch = mean_padded(rgb, *bucket_shape(h, w))
        probs = self._request.infer({0: batch})[self._compiled.output(0)]
        return np.ascontiguousarray(probs[0, :h, :w], dtype=np.float32)


class OpenVinoTFLiteSegmenter:
    """A PASCAL VOC 21-class ``.tflite`` model read by OpenVINO's TFLite frontend.

    The same input and output conventions as :class:`~segmentation.backends.tflite.
    TFLiteSegmenter`; a labels-only graph is asked for its last ``[1, H, W, 21]`` tensor (the
    pre-argmax scores) as an extra output.
    """

    backend = BACKEND
    classes: tuple[str, ...] = VOC_CLASSES

    def __init__(
        self, path: Path, *, precision: str = FP32, num_threads: int | None = None
    ) -> None:
        if not path.is_file():
            raise ModelUnavailable(f"TFLite model not found: {str(path)!r}")
        ov = _openvino()
        self.name = path.name
        self.device = _DEVICE
        try:
            model = ov.Core().read_model(path)
        except RuntimeError as exc:
            raise ModelUnavailable(f"OpenVINO cannot read {str(path)!r}: {exc}") from exc
        inp = model.input(0)
        _, self._in_h, self._in_w, _ = (int(v) for v in inp.get_shape())
        # The fixed input (height, width) any photo is fitted into (see segmentation.tta).
        self.input_size = (self._in_h, self._in_w)
        self._float_input = inp.get_element_type().is_real()
        scores = (1, self._in_h, self._in_w, NUM_CLASSES)
        output = model.output(0)
        self._scores_output: int | None = 0 if tuple(output.get_shape()) == scores else None
        if self._scores_output is None and len(output.get_shape()) == 3:
            found = [
                op.output(0)
                for op in model.get_ordered_ops()
                if op.get_output_size() == 1
                and op.get_output_partial_shape(0).is_static
                and tuple(op.get_output_shape(0)) == scores
                and op.get_output_element_type(0).is_real()
            ]
            if found:
                model.add_outputs([found[-1]])
                self._scores_output = len(model.outputs) - 1
        elif self._scores_output is None:
            raise ModelUnavailable(
                f"{path.name}: output shape {list(output.get_shape())} is neither labels "
                f"[1,H,W] nor {NUM_CLASSES}-class scores {list(scores)}"
            )
        self._compiled, self.precision = _compile(model, resolve_precision(precision), num_threads)
        self._request = self._compiled.create_infer_request()

    def warmup(self) -> None:
        self.predict(np.zeros((self._in_h, self._in_w, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        fit_h, fit_w = fitted_size(h, w, self._in_h, self._in_w, MIN_UPSCALE)
        batch = fit_into(rgb, self._in_h, self._in_w, PAD_GREY, MIN_UPSCALE)[np.newaxis]
        if self._float_input:
            batch = batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        results = self._request.infer({0: batch})
        if self._scores_output is None:
            labels = results[self._compiled.output(0)][0, :fit_h, :fit_w]
            probs = labels_to_probabilities(labels.astype(np.int64))
        else:
            scores = results[self._compiled.output(self._scores_output)][0, :fit_h, :fit_w]
            probs = scores_to_probabilities(np.asarray(scores, np.float32))
        return resize_probabilities(probs, h, w)
