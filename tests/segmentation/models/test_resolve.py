"""resolve_model(): auto, registry names, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation.errors import ModelUnavailable
from segmentation.models.registry import (
    DEEPLAB_MNV2,
    FCN8S_VOC,
    FROZEN_GRAPH,
    KERAS_FCN8S,
    REGISTRY,
    TFLITE,
    XCEPTION65,
    ModelEntry,
)
from segmentation.models.resolve import ResolvedModel, resolve_model
from segmentation.models.store import installed_path, models_dir
from tests.segmentation.models.conftest import registry_entry, served_entry
from tests.segmentation.models.fileserver import Behaviour

Registry = tuple[ModelEntry, ...]
MODEL = b"TFL3 stand-in model bytes" * 40


@pytest.fixture
def registry(http: tuple[Behaviour, str]) -> Registry:
    """The real registry with the DeepLab MobileNetV2 file served from loopback."""
    behaviour, base = http
    entry = served_entry(registry_entry(DEEPLAB_MNV2), base, MODEL)
    behaviour.files[f"/{entry.filename}"] = MODEL
    return tuple(entry if e.name == DEEPLAB_MNV2 else e for e in REGISTRY)


def test_auto_downloads_deeplab_when_nothing_is_installed(cache: Path, registry: Registry) -> None:
    resolved = resolve_model("auto", cache_dir=cache, registry=registry)
    assert resolved == ResolvedModel(
        DEEPLAB_MNV2, TFLITE, models_dir(cache) / "deeplabv3_mnv2_pascal_quant.tflite"
    )
    assert resolved.path.read_bytes() == MODEL
    assert resolved.load_arguments() == (str(resolved.path), None)


def test_auto_picks_fcn8s_when_its_weights_are_present(
    cache: Path,
    registry: Registry,
    http: tuple[Behaviour, str],
) -> None:
    weights = installed_path(registry_entry(FCN8S_VOC), cache)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"imported FCN-8s weights")
    said: list[str] = []
    resolved = resolve_model("auto", cache_dir=cache, registry=registry, emit=said.append)
    assert resolved == ResolvedModel(FCN8S_VOC, KERAS_FCN8S, weights)
    assert resolved.load_arguments() == ("fcn8s", weights)
    assert http[0].requests == []  # nothing downloaded
    assert "trusting it on first use" in said[0]  # weights imported by hand get pinned


def test_auto_prefers_xception_over_fcn8s(cache: Path, registry: Registry) -> None:
    for name in (FCN8S_VOC, XCEPTION65):
        path = installed_path(registry_entry(name), cache)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    resolved = resolve_model("auto", cache_dir=cache, registry=registry)
    assert (resolved.name, resolved.backend) == (XCEPTION65, FROZEN_GRAPH)


def test_auto_at_a_reduced_precision_means_fcn8s_exports(cache: Path, registry: Registry) -> None:
    resolved = resolve_model("auto", cache_dir=cache, registry=registry, precision="int8-dynamic")
    assert resolved.backend == KERAS_FCN8S
    assert not resolved.path.exists()  # the TFLite exports need no weights file


def test_registry_names_and_the_fcn8s_alias(cache: Path, registry: Registry) -> None:
    assert resolve_model(DEEPLAB_MNV2, cache_dir=cache, registry=registry).backend == TFLITE
    weights = installed_path(registry_entry(FCN8S_VOC), cache)
    weights.write_bytes(b"w")
    assert resolve_model("fcn8s", cache_dir=cache, registry=registry).name == FCN8S_VOC


@pytest.mark.parametrize(
    ("filename", "backend"),
    [("m.tflite", TFLITE), ("g.pb", FROZEN_GRAPH), ("x.weights.h5", KERAS_FCN8S)],
)
def test_a_path_is_used_as_it_is(tmp_path: Path, filename: str, backend: str) -> None:
    path = tmp_path / filename
    path.write_bytes(b"model")
    assert resolve_model(str(path), cache_dir=tmp_path) == ResolvedModel(filename, backend, path)


def test_unknown_models_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"unknown model 'nope'.*deeplabv3-mnv2-voc"):
        resolve_model("nope", cache_dir=tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match="cannot tell the kind of model file"):
        resolve_model(str(tmp_path / "m.onnx"), cache_dir=tmp_path)
