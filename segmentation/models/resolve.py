"""``--model`` / ``MODEL`` to a file and its backend: ``auto``, a registry name or a path.

``auto`` takes the most accurate model already installed among
:data:`~segmentation.models.registry.AUTO_PREFERENCE` (DeepLabV3+ Xception-65, then FCN-8s),
else :data:`~segmentation.models.registry.AUTO_DOWNLOAD` (the 2 MB DeepLabV3 MobileNetV2),
downloaded on first use. A registry name is installed on first use; a path is used as it is.
Resolution happens before :func:`segmentation.segmenter.load_segmenter`, in the process that
may download (the bot resolves at start-up, then its model process loads the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from segmentation.errors import ModelUnavailable
from segmentation.export import FP32, PRECISIONS
from segmentation.models.progress import Progress
from segmentation.models.registry import (
    AUTO_DOWNLOAD,
    AUTO_PREFERENCE,
    FROZEN_GRAPH,
    KERAS_FCN8S,
    REGISTRY,
    TFLITE,
    ModelEntry,
    lookup,
)
from segmentation.models.store import Emit, ensure, installed_path, is_installed

if TYPE_CHECKING:
    from segmentation.options import TtaOptions
    from segmentation.segmenter import Segmenter

AUTO: Final = "auto"
# File names a model path may have (see backend_of_path).
MODEL_SUFFIXES: Final = (".tflite", ".pb", ".weights.h5", ".model.json")
# Backend of a model made by `stickerbot train` (weights + .model.json metadata).
TRAINED: Final = "trained"
# The name load_segmenter knows FCN-8s by.
FCN8S_BACKEND_NAME: Final = "fcn8s"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model ready to load: its name, backend and file (plain, picklable data)."""

    name: str
    backend: str
    path: Path

    def load_arguments(self) -> tuple[str, Path | None]:
        """``(model, weights)`` for :func:`segmentation.segmenter.load_segmenter`."""
        if self.backend == KERAS_FCN8S:
            return FCN8S_BACKEND_NAME, self.path
        return str(self.path), None


def backend_of_path(path: Path) -> str:
    """The backend that loads a model file, from its name."""
    if path.name.endswith(".weights.h5"):
        return KERAS_FCN8S
    if path.suffix == ".tflite":
        return TFLITE
    if path.suffix == ".pb":
        return FROZEN_GRAPH
    if path.name.endswith(".model.json"):
        return TRAINED
    raise ModelUnavailable(
        f"cannot tell the kind of model file {str(path)!r}: expected .tflite (TFLite), .pb "
        "(TensorFlow frozen graph), .weights.h5 (FCN-8s Keras weights) or .model.json "
        "(made by `stickerbot train`)"
    )


def resolve_model(
    spec: str,
    *,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
    precision: str = FP32,
    registry: tuple[ModelEntry, ...] = REGISTRY,
) -> ResolvedModel:
    """Resolve ``spec`` (see the module), downloading a registry model on first use.

    With an export precision (float16, int8...), FCN-8s runs from its TFLite exports, which
    need no weights file: ``auto`` then means FCN-8s. Raises :class:`ModelUnavailable`.
    """
    spec = spec.strip()
    if spec == AUTO:
        entry = _auto_entry(cache_dir, precision, registry)
    else:
        found = lookup(spec, registry)
        if found is None:
            return model_file(spec, registry)
        entry = found
    if _from_exports(precision) and entry.backend == KERAS_FCN8S:
        return ResolvedModel(entry.name, entry.backend, installed_path(entry, cache_dir))
    path = ensure(entry, cache_dir=cache_dir, mirror=mirror, progress=progress, emit=emit)
    return ResolvedModel(entry.name, entry.backend, path)


def _auto_entry(
    cache_dir: Path | None, precision: str, registry: tuple[ModelEntry, ...]
) -> ModelEntry:
    if _from_exports(precision):
        return _entry(next(name for name in AUTO_PREFERENCE if _is_fcn8s(name, registry)), registry)
    for name in AUTO_PREFERENCE:
        entry = lookup(name, registry)
        if entry is not None and is_installed(entry, cache_dir):
            return entry
    return _entry(AUTO_DOWNLOAD, registry)


def _from_exports(precision: str) -> bool:
    """Whether FCN-8s at ``precision`` runs from its TFLite exports (float16, int8...), not
    from its weights (fp32, and OpenVINO's auto/bf16)."""
    return precision in PRECISIONS and precision != FP32


def _is_fcn8s(name: str, registry: tuple[ModelEntry, ...]) -> bool:
    entry = lookup(name, registry)
    return entry is not None and entry.backend == KERAS_FCN8S


def _entry(name: str, registry: tuple[ModelEntry, ...]) -> ModelEntry:
    entry = lookup(name, registry)
    if entry is None:  # pragma: no cover - the registry's own names
        raise ModelUnavailable(f"model {name!r} is not in the registry")
    return entry


def model_file(spec: str, registry: tuple[ModelEntry, ...] = REGISTRY) -> ResolvedModel:
    """A ``--model`` value that is neither ``auto`` nor a registry name: the model file it
    names. Raises :class:`ModelUnavailable`, saying what was expected, when there is none."""
    path = Path(spec).expanduser()
    if not path.is_file() and spec.endswith(MODEL_SUFFIXES):
        kind = {
            ".tflite": "TFLite",
            ".pb": "frozen graph",
            ".h5": "FCN-8s weights",
            ".json": "trained",
        }[path.suffix]
        raise ModelUnavailable(f"{kind} model not found: {str(path)!r}")
    if not path.is_file():
        names = ", ".join(entry.name for entry in registry)
        raise ModelUnavailable(
            f"unknown model {spec!r}: neither {AUTO!r}, a registry name ({names}; see "
            "`stickerbot models`) nor an existing model file"
        )
    return ResolvedModel(path.name, backend_of_path(path), path)


def open_model(
    spec: str,
    *,
    weights: Path | None = None,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
    num_threads: int | None = None,
    precision: str = FP32,
    backend: str = AUTO,
    tta: TtaOptions | None = None,
    calibration: Sequence[Path] | None = None,
) -> Segmenter:
    """Resolve ``spec`` (downloading on first use) and load it (wrapped for test-time
    augmentation when ``tta`` asks). An explicit FCN-8s ``weights`` file means FCN-8s from
    that file. ``calibration``: photo files or folders to quantise on (precision int8 on the
    openvino backend), read only when loading. A module-level function: a
    ``functools.partial`` of it can be sent to a model process."""
    from segmentation.calibration import calibration_photos
    from segmentation.segmenter import FCN8S, load_segmenter

    model = FCN8S
    if weights is None:
        resolved = resolve_model(
            spec,
            cache_dir=cache_dir,
            mirror=mirror,
            progress=progress,
            emit=emit,
            precision=precision,
        )
        model, weights = resolved.load_arguments()
    return load_segmenter(
        model,
        weights=weights,
        cache_dir=cache_dir,
        num_threads=num_threads,
        precision=precision,
        backend=backend,
        calibration=calibration_photos(calibration) if calibration else None,
        tta=tta,
    )
