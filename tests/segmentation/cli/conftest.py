"""Fixtures of the command-line tests that fetch models: a fresh cache, a loopback mirror."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from segmentation.models.locks import LOCKS_DIR
from tests.conftest import SHARED_DIR
from tests.segmentation.models.fileserver import Behaviour, serve

MODELS = SHARED_DIR / "models"


def files_in(folder: Path) -> list[str]:
    """The files under ``folder`` (relative, sorted); lock files left out."""
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and LOCKS_DIR not in p.parts  # lock files stay (locks.py says why)
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache, found the default way ($XDG_CACHE_HOME), and no mirror set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("STICKERBOT_MODEL_MIRROR", raising=False)
    return tmp_path / "xdg" / "stickerbot"


@pytest.fixture
def mirror() -> Iterator[tuple[Behaviour, str]]:
    """A loopback mirror serving the real DeepLab files from ../shared/models."""
    if not MODELS.is_dir():
        pytest.skip(f"{MODELS} is absent: the real models come from the project's ../shared")
    behaviour = Behaviour(files={f"/m/{p.name}": p.read_bytes() for p in MODELS.glob("*.tflite")})
    with serve(behaviour) as base:
        yield behaviour, f"{base}/m"
