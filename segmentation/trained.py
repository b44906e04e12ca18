"""A trained model on disk: ``NAME.weights.h5`` plus its metadata, ``NAME.model.json``.

The metadata says what the weights are (architecture, backbone sizes, class names with the
background first, the input mean) and how they were made (data, steps, initialisation). It is
plain JSON read without TensorFlow (:func:`read_info`), so the bot knows a model's classes
before (or without) loading it; :func:`load_model` builds the network and loads the weights.
``--model PATH`` takes the ``.model.json`` file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from segmentation.classes import VOC_CLASSES, check_class_list
from segmentation.errors import ModelUnavailable

if TYPE_CHECKING:
    import keras

    from segmentation.fcn8s import Fcn8sConfig

METADATA_SUFFIX: Final = ".model.json"
WEIGHTS_SUFFIX: Final = ".weights.h5"
FORMAT: Final = "stickerbot-model"
FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a trained model file holds; ``training`` is free-form provenance (data, steps)."""

    architecture: str
    classes: tuple[str, ...]
    input_mean: tuple[float, float, float]
    widths: tuple[int, ...]
    convs_per_block: tuple[int, ...]
    fc_units: int
    fc6_kernel: int
    training: Mapping[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Fcn8sConfig:
        from segmentation.fcn8s import Fcn8sConfig

        return Fcn8sConfig(
            widths=tuple(self.widths),  # type: ignore[arg-type]
            convs_per_block=tuple(self.convs_per_block),  # type: ignore[arg-type]
            fc_units=self.fc_units,
            fc6_kernel=self.fc6_kernel,
        )

    @classmethod
    def of(
        cls,
        architecture: str,
        classes: Sequence[str],
        config: Fcn8sConfig,
        training: Mapping[str, Any] | None = None,
    ) -> ModelInfo:
        from segmentation.fcn8s import VGG_MEANS

        return cls(
            architecture=architecture,
            classes=tuple(classes),
            input_mean=VGG_MEANS,
            widths=tuple(config.widths),
            convs_per_block=tuple(config.convs_per_block),
            fc_units=config.fc_units,
            fc6_kernel=config.fc6_kernel,
            training=dict(training or {}),
        )


def is_model_file(spec: str | os.PathLike[str]) -> bool:
    return os.fspath(spec).endswith(METADATA_SUFFIX)


def paths_of(stem: Path) -> tuple[Path, Path]:
    """``(metadata, weights)`` of a model named by either file or by its stem."""
    name = stem.name.removesuffix(METADATA_SUFFIX).removesuffix(WEIGHTS_SUFFIX)
    return stem.with_name(name + METADATA_SUFFIX), stem.with_name(name + WEIGHTS_SUFFIX)


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The metadata of a trained model (no TensorFlow); raises :class:`ModelUnavailable`."""
    meta, _ = paths_of(Path(path).expanduser())
    try:
        raw = json.loads(meta.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelUnavailable(f"cannot read model file {str(meta)!r}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ModelUnavailable(f"{str(meta)!r} is not a model file: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelUnavailable(f"{str(meta)!r} is not a {FORMAT} metadata file")
    if raw.get("version") != FORMAT_VERSION:
        raise ModelUnavailable(
            f"{str(meta)!r} has format version {raw.get('version')!r}; "
            f"this stickerbot reads version {FORMAT_VERSION}"
        )
    try:
        from segmentation.fcn import check_architecture

        info = ModelInfo(
            architecture=check_architecture(str(raw["architecture"])),
            classes=check_class_list([str(name) for name in raw["classes"]]),
            input_mean=tuple(float(v) for v in raw["input_mean"]),  # type: ignore[arg-type]
            widths=tuple(int(v) for v in raw["widths"]),
            convs_per_block=tuple(int(v) for v in raw["convs_per_block"]),
            fc_units=int(raw["fc_units"]),
            fc6_kernel=int(raw["fc6_kernel"]),
            training=dict(raw.get("training") or {}),
        )
        sizes = (*info.widths, *info.convs_per_block, info.fc_units, info.fc6_kernel)
        if len(info.widths) != 5 or len(info.convs_per_block) != 5 or min(sizes) < 1:
            raise ValueError(f"invalid backbone sizes {sizes}")
        if len(info.input_mean) != 3:
            raise ValueError(f"input_mean needs 3 values, got {info.input_mean}")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"{str(meta)!r}: invalid model metadata: {exc}") from exc
    return info


def write_info(path: Path, info: ModelInfo) -> Path:
    """Write the metadata next to its weights (atomically); returns the metadata path."""
    meta, _ = paths_of(path)
    data = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(info)}
    data["training"] = dict(info.training)
    partial = meta.with_name(f".{meta.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(meta)
    return meta


def save_model(model: keras.Model, path: Path, info: ModelInfo) -> Path:
    """Weights and metadata of ``model`` under ``path``'s stem; returns the metadata path."""
    from segmentation.weights import save_weights_atomically

    meta, weights = paths_of(path)
    save_weights_atomically(model, weights)
    return write_info(meta, info)


def build_model(info: ModelInfo, *, kernel_initializer: str = "zeros") -> keras.Model:
    from segmentation.fcn import build_fcn

    return build_fcn(
        info.architecture,
        len(info.classes),
        config=info.config,
        kernel_initializer=kernel_initializer,
    )


def load_model(path: str | os.PathLike[str]) -> tuple[keras.Model, ModelInfo]:
    """The network of a trained model file with its weights loaded, and its metadata."""
    import warnings

    from segmentation.fcn8s import VGG_MEANS

    info = read_info(path)
    if tuple(info.input_mean) != VGG_MEANS:
        raise ModelUnavailable(f"{os.fspath(path)!r}: input mean {info.input_mean} unsupported")
    _, weights = paths_of(Path(path).expanduser())
    if not weights.is_file():
        raise ModelUnavailable(f"the weights of {os.fspath(path)!r} are missing: {weights}")
    model = build_model(info)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(weights)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(f"cannot load {weights}: {exc}") from exc
    skipped = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if skipped:
        raise ModelUnavailable(f"{weights} does not fit its metadata: {skipped[0][:300]}")
    return model, info


def model_classes(model: str | os.PathLike[str]) -> tuple[str, ...]:
    """The class list of a ``--model`` / ``MODEL`` value without loading the model: the
    metadata's for a trained ``.model.json``, the registry's for a registry name, else VOC
    (``auto``, ``.tflite`` and the other PASCAL VOC model files)."""
    if is_model_file(model):
        return read_info(model).classes
    from segmentation.models.registry import lookup

    entry = lookup(os.fspath(model).strip())
    return entry.classes if entry is not None and entry.classes else VOC_CLASSES
