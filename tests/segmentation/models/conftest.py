"""Registry entries served from a loopback server."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmentation.models.registry import REGISTRY, ModelEntry
from tests.segmentation.models.fileserver import Behaviour, serve


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def served_entry(entry: ModelEntry, base: str, data: bytes, *, pinned: bool = True) -> ModelEntry:
    """``entry`` fetched from ``base`` and, if ``pinned``, pinned to the hash of ``data``."""
    return dataclasses.replace(
        entry,
        urls=(f"{base}/{entry.filename}",),
        sha256=hashlib.sha256(data).hexdigest() if pinned else None,
        size=len(data),
    )


@pytest.fixture
def http() -> Iterator[tuple[Behaviour, str]]:
    behaviour = Behaviour()
    with serve(behaviour) as base:
        yield behaviour, base


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def registry_entry(name: str) -> ModelEntry:
    return next(entry for entry in REGISTRY if entry.name == name)
