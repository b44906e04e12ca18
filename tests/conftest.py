"""Fixtures shared by every test package: the ``../shared`` data and real photos."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
DEEPLAB_MODEL = SHARED_DIR / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
DEEPLAB_SMALL_MODEL = SHARED_DIR / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
FIXTURES_DIR = SHARED_DIR / "fixtures"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class NoNetwork(socket.gaierror):
    """A test asked for a host other than loopback (a model download, most likely)."""


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sends traffic off this machine: resolving any other host fails as it does
    offline. A command that would fetch a model from the internet reports it cannot."""
    resolve = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name) not in LOOPBACK_HOSTS:
            raise NoNetwork(socket.EAI_NONAME, f"tests are offline: no lookup of {name!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path} is absent: real-model tests need the project's ../shared folder "
            "(models and fixtures) beside the checkout"
        )
    return path


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` (real photos with reference masks); skips when absent."""
    return _require(FIXTURES_DIR)


@pytest.fixture(scope="session")
def deeplab_model_path() -> Path:
    """The real pretrained PASCAL VOC DeepLabV3 TFLite model; skips when absent."""
    return _require(DEEPLAB_MODEL)


@pytest.fixture(scope="session")
def deeplab_small_model_path() -> Path:
    """The smaller, faster DeepLabV3 (depth multiplier 0.5); skips when absent."""
    return _require(DEEPLAB_SMALL_MODEL)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real photo of a person (512x512 RGB uint8), shipped inside scikit-image."""
    from skimage import data

    return np.asarray(data.astronaut())


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    """A real photo of a cat (300x451 RGB uint8), shipped inside scikit-image."""
    from skimage import data

    return np.asarray(data.chelsea())


def encode(rgb: np.ndarray, fmt: str = "JPEG", **save_kwargs: object) -> bytes:
    """Encode an array as image bytes (test helper)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real, started ``redis-server`` (append-only file on) of this test alone."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def mascot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of the user-defined class "mascot" made by ``stickerbot train`` (~1 min on
    CPU, once per session): its ``.model.json``."""
    from tests.segmentation.train.mascot import train_mascot_model

    return train_mascot_model(tmp_path_factory.mktemp("mascot"))
