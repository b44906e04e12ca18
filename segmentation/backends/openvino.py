"""OpenVINO runs FCN-8s (converted once from the Keras model) and the TFLite VOC models.

``pip install 'stickerbot[openvino]'``. On a CPU with native bfloat16 (AVX512-BF16, AMX)
OpenVINO's bf16 kernels run FCN-8s several times faster than float32 at an argmax agreement
the benchmark checks on real photos (``python -m bench``); the default stays float32.

FCN-8s is converted from the Keras model (:func:`convert_fcn8s`, needs TensorFlow) into
OpenVINO's IR, cached beside the weights under a name keyed by the weights' SHA-256 and the
OpenVINO version (:func:`ir_path`); later loads read the IR and never import TensorFlow.
The IR takes raw RGB (0..255, float32) of any size that is a multiple of 32, subtracts the
VGG means and ends in a softmax.

Precision ``int8`` quantises that IR (or a float TFLite model) with NNCF on real calibration
photos and caches the result beside it (:mod:`segmentation.backends.openvino_int8`); it is
never what ``auto`` resolves to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from segmentation.backends import openvino_int8
from segmentation.backends.fcn8s_input import WARMUP_BUCKETS, bucket_shape, mean_padded
from segmentation.backends.openvino_int8 import (
    Int8Options,
    int8_ir_path,
    is_quantized,
    quantize,
)
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
from segmentation.export import FP32, INT8, default_calibration_photos
from segmentation.image import resize_longer_side
from segmentation.limits import DEFAULT_INFERENCE_SIDE
from segmentation.models.digests import file_sha256

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

BACKEND: Final = "openvino"
BF16: Final = "bf16"
AUTO: Final = "auto"
# What this backend computes in; ``auto`` is bf16 where the CPU has it natively, else fp32
# (never int8: quantisation needs calibration photos and is chosen explicitly).
PRECISIONS: Final = (AUTO, FP32, BF16, INT8)
# int8: the quantised convolutions run in int8, the ops NNCF leaves in float in fp32.
_HINTS: Final = {FP32: "f32", BF16: "bf16", INT8: "f32"}
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


def save_ir(model: Any, xml: Path) -> Path:
    """Write the OpenVINO ``model`` as an IR at ``xml`` (and ``.bin``), weights as they are.

    Files are written under temporary names and renamed, so a reader never sees half an IR.
    """
    ov = _openvino()
    partial = xml.with_name(f".{xml.stem}.{os.getpid()}.xml")
    try:
        ov.save_model(model, partial, compress_to_fp16=False)
        partial.with_suffix(".bin").replace(xml.with_suffix(".bin"))
        partial.replace(xml)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_suffix(".bin").unlink(missing_ok=True)
    return xml


def convert_fcn8s(model: keras.Model, xml: Path) -> Path:
    """Convert the Keras FCN-8s ``model`` to an OpenVINO IR at ``xml`` (and ``.bin``),
    atomically (:func:`save_ir`)."""
    save_ir(converted_fcn8s(model), xml)
    logger.info("converted FCN-8s to OpenVINO IR %s", xml)
    return xml


def quantized_ir(
    float_model: Path | Any,
    cached: Path | None,
    photos: Sequence[np.ndarray],
    samples: Callable[[np.ndarray], tuple[np.ndarray, tuple[int, int]]],
    options: Int8Options,
) -> Path | Any:
    """The int8 model: the IR at ``cached`` if it exists, else ``float_model`` (an IR's path
    or a model) quantised on ``samples(photo)`` for each photo (the model input and the
    photo's size at its top left) and saved at ``cached`` (atomically; in memory only when
    there is no ``cached`` path or it cannot be written)."""
    if cached is not None and cached.is_file():
        return cached
    ov = _openvino()
    model = ov.Core().read_model(float_model) if isinstance(float_model, Path) else float_model
    inputs, regions = zip(*(samples(photo) for photo in photos), strict=True)
    quantized = quantize(model, inputs, options, regions)
    if cached is None:
        return quantized
    try:
        save_ir(quantized, cached)
    except OSError as exc:
        logger.warning(
            "cannot cache the int8 IR at %s (%s): quantised for this process only", cached, exc
        )
        return quantized
    logger.info("cached the int8 IR at %s", cached)
    return cached


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
    if precision == INT8 and is_quantized(model):
        actual = INT8
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
        wanted = resolve_precision(precision)
        if wanted == INT8 and not is_quantized(model):
            raise ModelUnavailable(
                "precision 'int8' needs a quantised IR (OpenVinoFcn8sSegmenter.load quantises "
                f"one); got a float model from {xml if isinstance(xml, Path) else 'memory'}"
            )
        self._compiled, self.precision = _compile(model, wanted, num_threads)
        self._request = self._compiled.create_infer_request()

    @classmethod
    def load(
        cls,
        *,
        weights: Path | None = None,
        cache_dir: Path | None = None,
        precision: str = FP32,
        num_threads: int | None = None,
        calibration: Sequence[np.ndarray] | None = None,
        int8_options: Int8Options | None = None,
    ) -> OpenVinoFcn8sSegmenter:
        """From the IR cached beside ``weights`` (default: the cache's), converting first if
        there is none for these weights and this OpenVINO version.

        ``precision="int8"``: the int8 IR quantised on ``calibration`` (real photos, ``H x W x
        3`` uint8; default scikit-image's), cached beside the float IR; quantised first
        (minutes) if there is none for this calibration set, these options and this NNCF.
        """
        from segmentation.models.store import FCN8S_WEIGHTS_FILENAME, cache_root

        default = cache_root(cache_dir) / FCN8S_WEIGHTS_FILENAME
        path = default if weights is None else Path(weights).expanduser()
        model = cls._float_ir(path, cache_dir)
        if resolve_precision(precision) == INT8:
            photos = default_calibration_photos() if calibration is None else list(calibration)
            options = int8_options or openvino_int8.DEFAULT_OPTIONS
            cached = int8_ir_path(model, photos, options) if isinstance(model, Path) else None
            model = quantized_ir(model, cached, photos, cls.calibration_sample, options)
        return cls(model, precision=precision, num_threads=num_threads)

    @staticmethod
    def _float_ir(path: Path, cache_dir: Path | None) -> Path | Any:
        """The float IR's path for the weights at ``path`` (converted first if need be), or
        the converted model itself when it cannot be cached."""
        xml = ir_path(path) if path.is_file() else None
        if xml is not None and xml.is_file():
            return xml
        from segmentation.weights import load_fcn8s

        # Raises ModelUnavailable, saying how to get them, when the weights are missing.
        keras_model = load_fcn8s(weights=path, cache_dir=cache_dir)
        xml = ir_path(path)
        try:
            return convert_fcn8s(keras_model, xml)
        except OSError as exc:
            logger.warning(
                "cannot cache the OpenVINO IR at %s (%s): converted for this process only",
                xml,
                exc,
            )
            return converted_fcn8s(keras_model)

    @staticmethod
    def model_input(rgb: np.ndarray) -> np.ndarray:
        """What :meth:`predict` feeds the IR for ``rgb``: mean-padded to its bucket."""
        return mean_padded(rgb, *bucket_shape(*rgb.shape[:2]))

    @classmethod
    def calibration_input(cls, photo: np.ndarray) -> np.ndarray:
        """A calibration photo as the pipeline would feed it: its longer side brought down to
        the default inference side, then :meth:`model_input`."""
        return cls.calibration_sample(photo)[0]

    @classmethod
    def calibration_sample(cls, photo: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """:meth:`calibration_input` and the size of the photo at its top left."""
        rgb = resize_longer_side(photo[..., :3], DEFAULT_INFERENCE_SIDE)
        return cls.model_input(rgb), (rgb.shape[0], rgb.shape[1])

    def warmup(self) -> None:
        for height, width in WARMUP_BUCKETS:
            self.predict(np.zeros((height, width, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        probs = self._request.infer({0: self.model_input(rgb)})[self._compiled.output(0)]
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
        self,
        path: Path,
        *,
        precision: str = FP32,
        num_threads: int | None = None,
        calibration: Sequence[np.ndarray] | None = None,
        cache_dir: Path | None = None,
        int8_options: Int8Options | None = None,
    ) -> None:
        """``precision="int8"``: a quantised ``.tflite`` (OpenVINO reads its uint8 tensors as
        ``FakeQuantize`` ops) runs as it is; a float one is quantised by NNCF on
        ``calibration`` (default scikit-image's photos) and the int8 IR cached in the model
        cache (``cache_dir``), keyed by the file's hash and the calibration set."""
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
        wanted = resolve_precision(precision)
        if wanted == INT8 and not is_quantized(model):
            photos = default_calibration_photos() if calibration is None else list(calibration)
            options = int8_options or openvino_int8.DEFAULT_OPTIONS
            model = quantized_ir(
                model,
                int8_ir_path(self._float_key(path, cache_dir), photos, options),
                photos,
                lambda photo: self.model_input(
                    resize_longer_side(photo[..., :3], DEFAULT_INFERENCE_SIDE)
                ),
                options,
            )
            if isinstance(model, Path):
                model = ov.Core().read_model(model)
        self._compiled, self.precision = _compile(model, wanted, num_threads)
        self._request = self._compiled.create_infer_request()

    @staticmethod
    def _float_key(path: Path, cache_dir: Path | None) -> Path:
        """The model cache's name for ``path`` read by this OpenVINO (file hash, version); the
        int8 IR's name extends it (:func:`int8_ir_path`)."""
        from segmentation.models.store import cache_root

        version = _openvino().__version__.split("-")[0]
        root = cache_root(cache_dir)
        with contextlib.suppress(OSError):  # unwritable: quantised in memory (quantized_ir)
            root.mkdir(parents=True, exist_ok=True)
        return root / f"{path.stem}.{weights_digest(path)}.openvino-{version}.xml"

    def model_input(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """What :meth:`predict` feeds the model for ``rgb``, and the fitted photo's size."""
        h, w = rgb.shape[:2]
        fitted = fitted_size(h, w, self._in_h, self._in_w, MIN_UPSCALE)
        batch = fit_into(rgb, self._in_h, self._in_w, PAD_GREY, MIN_UPSCALE)[np.newaxis]
        if self._float_input:
            batch = batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        return batch, fitted

    def warmup(self) -> None:
        self.predict(np.zeros((self._in_h, self._in_w, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        batch, (fit_h, fit_w) = self.model_input(rgb)
        results = self._request.infer({0: batch})
        if self._scores_output is None:
            labels = results[self._compiled.output(0)][0, :fit_h, :fit_w]
            probs = labels_to_probabilities(labels.astype(np.int64))
        else:
            scores = results[self._compiled.output(self._scores_output)][0, :fit_h, :fit_w]
            probs = scores_to_probabilities(np.asarray(scores, np.float32))
        return resize_probabilities(probs, h, w)
