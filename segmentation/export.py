"""Export FCN-8s to TensorFlow Lite, in full or reduced precision (``stickerbot export``).

The exported graph is the whole inference of :func:`segmentation.fcn8s.logits` except the
padding: input float32 ``[1, H, W, 3]`` raw RGB (0..255), the VGG means subtracted inside,
output float32 logits ``[1, H, W, 21]``. One file per input shape bucket
(:data:`segmentation.fcn8s.WARMUP_BUCKETS`): XNNPACK delegates only static shapes (a
dynamic-shape export measured 2x slower). The caller pads with the mean colour
(:class:`segmentation.backends.tflite.Fcn8sLiteSegmenter`).

Precisions (:data:`PRECISIONS`), all run by TFLite's XNNPACK delegate on CPU:

* ``fp32`` -- the same numbers as Keras; XNNPACK's GEMMs are faster than TensorFlow's;
* ``float16`` -- weights stored as float16 (half the file); CPUs without native float16
  arithmetic (x86 without AVX512-FP16) dequantize them to float32 at load: no speed-up,
  meant for GPU/ARM delegates;
* ``int8-dynamic`` -- int8 weights, activations quantized per inference from their actual
  range (no calibration needed): XNNPACK's int8 GEMMs;
* ``int8`` -- full integer: int8 weights and activations, activation ranges calibrated on a
  set of real photos (:func:`default_calibration_photos`); float32 input and output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from segmentation.backends.fcn8s_input import mean_padded as mean_padded

logger = logging.getLogger(__name__)

FP32: Final = "fp32"
FLOAT16: Final = "float16"
INT8_DYNAMIC: Final = "int8-dynamic"
INT8: Final = "int8"
PRECISIONS: Final[tuple[str, ...]] = (FP32, FLOAT16, INT8_DYNAMIC, INT8)

# segmentation.fcn8s (and so TensorFlow) is imported inside the functions: the segmenter and
# the CLI import this module for its names, and `stickerbot --help` must not load TensorFlow.

# Exported files live in the weights cache beside the Keras weights they were made from.
EXPORT_STEM: Final = "fcn8s_voc2012"

# Full-integer calibration: activation ranges from this many photos' forward passes. The
# calibrator runs TFLite's reference float kernels (about 20 s per 512 px photo here), and
# the ranges of the wide VGG layers settle after a handful of natural photos.
DEFAULT_CALIBRATION_PHOTOS: Final = 4

# scikit-image's real photos, used for calibration when the caller gives none.
SKIMAGE_CALIBRATION: Final[tuple[str, ...]] = ("astronaut", "chelsea", "coffee", "rocket")


def exported_path(cache_dir: Path, precision: str, shape: tuple[int, int]) -> Path:
    """Where ``stickerbot export`` writes (and the segmenter looks for) one bucket's file."""
    check_precision(precision)
    return Path(cache_dir) / f"{EXPORT_STEM}.{precision}.{shape[0]}x{shape[1]}.tflite"


def exported_buckets(cache_dir: Path, precision: str) -> dict[tuple[int, int], Path]:
    """The exported files of ``precision`` in ``cache_dir``, by their ``(H, W)`` bucket."""
    found = {}
    for path in sorted(
        Path(cache_dir).glob(f"{EXPORT_STEM}.{check_precision(precision)}.*.tflite")
    ):
        size = path.name.removesuffix(".tflite").rsplit(".", 1)[-1]
        height, _, width = size.partition("x")
        if height.isdigit() and width.isdigit():
            found[(int(height), int(width))] = path
    return found


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else ``ValueError`` listing them."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    return precision


def default_calibration_photos(count: int = DEFAULT_CALIBRATION_PHOTOS) -> list[np.ndarray]:
    """scikit-image's real photos (:data:`SKIMAGE_CALIBRATION`), ``H x W x 3`` uint8."""
    from skimage import data

    return [np.asarray(getattr(data, name)()) for name in SKIMAGE_CALIBRATION[:count]]


def calibration_inputs(photos: Iterable[np.ndarray], shape: tuple[int, int]) -> list[np.ndarray]:
    """``photos`` (``H x W x 3`` uint8 RGB) fitted into ``shape`` and mean-padded, as the
    segmenter feeds them: float32 ``[1, *shape, 3]``."""
    from PIL import Image

    inputs = []
    for rgb in photos:
        h, w = rgb.shape[:2]
        scale = min(shape[0] / h, shape[1] / w, 1.0)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        fitted = np.asarray(Image.fromarray(rgb[..., :3]).resize(size, Image.Resampling.LANCZOS))
        inputs.append(mean_padded(fitted, *shape))
    return inputs


def convert(
    model: Any,
    precision: str,
    shape: tuple[int, int],
    calibration: Sequence[np.ndarray] = (),
) -> bytes:
    """The TFLite flatbuffer of the Keras FCN-8s ``model`` at ``precision`` for a fixed input
    ``shape`` (``(H, W)``, multiples of :data:`~segmentation.fcn8s.NETWORK_STRIDE`).

    ``calibration`` (real photos, ``H x W x 3`` uint8) is required for ``int8`` and ignored
    otherwise.
    """
    import keras
    import tensorflow as tf

    from segmentation.fcn8s import NETWORK_STRIDE, VGG_MEANS

    check_precision(precision)
    if shape[0] % NETWORK_STRIDE or shape[1] % NETWORK_STRIDE or min(shape) < NETWORK_STRIDE:
        raise ValueError(f"shape sides must be positive multiples of {NETWORK_STRIDE}: {shape}")
    if precision == INT8 and not calibration:
        raise ValueError("int8 export needs calibration photos")
    image = keras.Input(shape=(*shape, 3), batch_size=1, dtype="float32", name="rgb")
    means = np.asarray(VGG_MEANS, np.float32)
    wrapped = keras.Model(image, model(keras.ops.subtract(image, means)), name="fcn8s_rgb")
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapped)
    if precision != FP32:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif precision == INT8:
        samples = calibration_inputs(calibration, shape)

        def dataset() -> Iterator[list[np.ndarray]]:
            return ([sample] for sample in samples)

        converter.representative_dataset = dataset
    # Keras' export step prints its traced signature and every captured variable to stdout.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # Float input/output around an int8 graph is what we want, not an oversight.
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        flatbuffer: bytes = converter.convert()
    logger.info(
        "converted FCN-8s to TFLite %s %dx%d: %.1f MB", precision, *shape, len(flatbuffer) / 1e6
    )
    return flatbuffer


def export(
    model: Any,
    cache_dir: Path,
    precision: str,
    *,
    buckets: Iterable[tuple[int, int]] | None = None,
    calibration: Sequence[np.ndarray] = (),
) -> list[Path]:
    """Convert ``model`` for each bucket shape (default: the
    :data:`~segmentation.fcn8s.WARMUP_BUCKETS`) and write the files (atomically) where
    :func:`exported_path` says; returns their paths."""
    from segmentation.fcn8s import WARMUP_BUCKETS

    paths = []
    for shape in WARMUP_BUCKETS if buckets is None else buckets:
        flatbuffer = convert(model, precision, shape, calibration)
        path = exported_path(cache_dir, precision, shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(flatbuffer)
        partial.replace(path)
        paths.append(path)
    return paths
