"""The inference boundary: a :class:`Segmenter` loads its weights once and maps an RGB photo
to per-pixel PASCAL VOC class probabilities. Engines plug in behind the same protocol, one
module each in :mod:`segmentation.backends`:

* ``tensorflow`` -- the project's Keras FCN-8s (:class:`Fcn8sSegmenter`), and TFLite files
  through ``tf.lite.Interpreter``;
* ``tflite`` -- TFLite files through LiteRT's standalone runtime (``ai-edge-litert``): any
  21-class PASCAL VOC ``.tflite`` model (:class:`TFLiteSegmenter`, e.g. DeepLabV3) and FCN-8s
  exported at a reduced precision (:class:`Fcn8sLiteSegmenter`, ``stickerbot export``);
* ``openvino`` -- FCN-8s converted once to OpenVINO's IR, and the TFLite models, in fp32,
  (on CPUs that have it) bf16, or int8 quantised by NNCF on calibration photos
  (``pip install 'stickerbot[openvino]'``).

``auto`` (:func:`choose_backend`) picks the fastest engine installed for the model, as
measured by ``python -m bench``. Nothing here imports TensorFlow: only the ``tensorflow``
backend and converting FCN-8s for OpenVINO do, so that a TFLite model runs in a small,
fast-starting process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import numpy as np

from segmentation.backends.keras import Fcn8sSegmenter
from segmentation.backends.openvino import (
    BF16,
    OpenVinoFcn8sSegmenter,
    OpenVinoTFLiteSegmenter,
    openvino_available,
)
from segmentation.backends.probabilities import (
    labels_to_probabilities,
    quantized_softmax,
    softmax,
)
from segmentation.backends.tflite import LITERT, TF_LITE, Fcn8sLiteSegmenter, TFLiteSegmenter
from segmentation.errors import ModelUnavailable
from segmentation.export import FP32, INT8
from segmentation.export import PRECISIONS as EXPORT_PRECISIONS
from segmentation.options import TtaOptions

__all__ = [
    "Fcn8sLiteSegmenter",
    "Fcn8sSegmenter",
    "OpenVinoFcn8sSegmenter",
    "OpenVinoTFLiteSegmenter",
    "Segmenter",
    "TFLiteSegmenter",
    "labels_to_probabilities",
    "load_segmenter",
    "quantized_softmax",
    "softmax",
]

FCN8S: Final = "fcn8s"

AUTO: Final = "auto"
TENSORFLOW: Final = "tensorflow"
OPENVINO: Final = "openvino"
TFLITE: Final = "tflite"
BACKENDS: Final[tuple[str, ...]] = (AUTO, TENSORFLOW, OPENVINO, TFLITE)

# Every precision a model can be asked for. fp32 is the default and the most accurate;
# ``auto`` is bf16 where the CPU computes it natively (OpenVINO), else fp32 (never int8);
# float16 and the int8 ones are FCN-8s's TFLite exports, and int8 on the openvino backend is
# NNCF's post-training quantisation (calibrated on real photos).
PRECISIONS: Final[tuple[str, ...]] = (FP32, AUTO, BF16, *EXPORT_PRECISIONS[1:])
# Precisions that only an OpenVINO model computes in.
_OPENVINO_PRECISIONS: Final = (AUTO, BF16)


@runtime_checkable
class Segmenter(Protocol):
    """Per-pixel class probabilities from an RGB photo."""

    name: str
    # The engine that runs it (one of BACKENDS but auto) and the precision it computes in.
    backend: str
    precision: str
    device: str
    # The model's class names, in output order; index 0 is the background (VOC for all
    # but a model trained on other classes, :mod:`segmentation.backends.trained`).
    classes: tuple[str, ...]

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxWxC float32 probabilities (summing to 1 per pixel), C the
        number of ``classes``."""
        ...

    def warmup(self) -> None:
        """Run once on a dummy image so the first real photo pays no compilation."""
        ...


def choose_backend(model: str, backend: str = AUTO, precision: str = FP32) -> str:
    """The engine ``backend`` stands for: itself, or for ``auto`` the fastest one installed.

    What ``python -m bench`` measured (README, "CPU inference: engines per CPU"): FCN-8s runs
    faster in OpenVINO than in TensorFlow at fp32 and far faster at bf16; TFLite models run
    fastest in LiteRT (XNNPACK), which also starts in a fraction of TensorFlow's time.
    FCN-8s's TFLite exports (float16, int8...) run in LiteRT.
    """
    if backend not in BACKENDS:
        raise ModelUnavailable(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if precision not in PRECISIONS:
        raise ModelUnavailable(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if backend != AUTO:
        return backend
    if model.endswith((".pb", ".model.json")):
        return TENSORFLOW  # a frozen graph or a trained model runs in TensorFlow only
    if model != FCN8S:
        # LiteRT runs a TFLite model faster at its own precision than OpenVINO does in bf16.
        return OPENVINO if precision == BF16 else TFLITE
    if precision in (FP32, *_OPENVINO_PRECISIONS):
        return OPENVINO if openvino_available() else TENSORFLOW
    return TFLITE


def load_segmenter(
    model: str = FCN8S,
    *,
    weights: Path | None = None,
    cache_dir: Path | None = None,
    num_threads: int | None = None,
    precision: str = FP32,
    backend: str = AUTO,
    calibration: Sequence[np.ndarray] | None = None,
    tta: TtaOptions | None = None,
) -> Segmenter:
    """Load ``model`` (``"fcn8s"``, a path to a ``.tflite`` file, to a DeepLab frozen graph
    ``.pb``, :mod:`segmentation.backends.frozen_graph`, or to a ``stickerbot train`` model's
    ``.model.json``, :mod:`segmentation.backends.trained`) on ``backend``.

    ``precision`` ``fp32`` (the default) is the most accurate; ``auto``/``bf16`` need the
    OpenVINO backend; float16 and the int8 ones load FCN-8s's TFLite exports that
    ``stickerbot export --precision P`` wrote into the cache. A ``.tflite`` model runs at the
    precision it was built with (``auto``: the same), or in bf16 on OpenVINO.

    ``backend="openvino", precision="int8"``: quantised by NNCF on ``calibration`` (real
    photos, ``H x W x 3`` uint8; default scikit-image's), cached beside the float IR (FCN-8s)
    or in the cache (a float ``.tflite``); a quantised ``.tflite`` runs as it is.
    ``tta`` (enabled) wraps the model in :class:`segmentation.tta.TtaSegmenter`: several
    scales and mirror images of each photo, probabilities averaged.
    """
    segmenter = _load(model, weights, cache_dir, num_threads, precision, backend, calibration)
    if tta is None or not tta.enabled:
        return segmenter
    from segmentation.tta import TtaSegmenter

    return TtaSegmenter(segmenter, tta)


def _load(
    model: str,
    weights: Path | None,
    cache_dir: Path | None,
    num_threads: int | None,
    precision: str,
    backend: str,
    calibration: Sequence[np.ndarray] | None,
) -> Segmenter:
    engine = choose_backend(model, backend, precision)
    if calibration is not None and not (engine == OPENVINO and precision == INT8):
        raise ModelUnavailable(
            "calibration photos apply to precision 'int8' on the openvino backend; got "
            f"backend {engine!r}, precision {precision!r}"
        )
    if model == FCN8S:
        return _load_fcn8s(engine, weights, cache_dir, num_threads, precision, calibration)
    path = Path(model).expanduser()
    if path.suffix == ".pb":
        return _load_frozen_graph(path, engine, precision)
    from segmentation.trained import METADATA_SUFFIX, is_model_file

    if is_model_file(path):
        if engine != TENSORFLOW or precision not in (FP32, AUTO):
            raise ModelUnavailable(
                f"{path.name} (a trained model) runs on the tensorflow backend in fp32; "
                f"got backend {engine!r}, precision {precision!r}"
            )
        from segmentation.backends.trained import TrainedSegmenter

        return TrainedSegmenter.load(path)
    if path.suffix != ".tflite":
        raise ModelUnavailable(
            f"unknown model {model!r}: use {FCN8S!r}, a path to a .tflite or .pb file or a "
            f"trained model's {METADATA_SUFFIX}"
        )
    if engine == OPENVINO:
        return OpenVinoTFLiteSegmenter(
            path,
            precision=precision,
            num_threads=num_threads,
            calibration=calibration,
            cache_dir=cache_dir,
        )
    if precision not in (FP32, AUTO):
        raise ModelUnavailable(
            f"--precision {precision} applies to {FCN8S!r} or the openvino backend; "
            f"{path.name} runs at its own precision"
        )
    runtime = TF_LITE if engine == TENSORFLOW else LITERT
    return TFLiteSegmenter(path, num_threads=num_threads, runtime=runtime)


def _load_fcn8s(
    engine: str,
    weights: Path | None,
    cache_dir: Path | None,
    num_threads: int | None,
    precision: str,
    calibration: Sequence[np.ndarray] | None,
) -> Segmenter:
    if engine == OPENVINO:
        if precision not in (FP32, INT8, *_OPENVINO_PRECISIONS):
            raise ModelUnavailable(
                f"the openvino backend runs FCN-8s in fp32, bf16, int8 or auto; got {precision!r}"
            )
        return OpenVinoFcn8sSegmenter.load(
            weights=weights,
            cache_dir=cache_dir,
            precision=precision,
            num_threads=num_threads,
            calibration=calibration,
        )
    if precision in _OPENVINO_PRECISIONS:
        raise ModelUnavailable(f"precision {precision!r} needs the openvino backend")
    if engine == TENSORFLOW and precision == FP32:
        return Fcn8sSegmenter.load(weights=weights, cache_dir=cache_dir)
    runtime = TF_LITE if engine == TENSORFLOW else LITERT
    return Fcn8sLiteSegmenter.load(
        precision, cache_dir=cache_dir, num_threads=num_threads, runtime=runtime
    )


def _load_frozen_graph(path: Path, engine: str, precision: str) -> Segmenter:
    if engine != TENSORFLOW or precision not in (FP32, AUTO):
        raise ModelUnavailable(
            f"{path.name} (a TensorFlow frozen graph) runs on the tensorflow backend in fp32; "
            f"got backend {engine!r}, precision {precision!r}"
        )
    from segmentation.backends.frozen_graph import FrozenGraphSegmenter

    return FrozenGraphSegmenter(path)
