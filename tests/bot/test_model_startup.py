"""MODEL at start-up: auto, registry names and the mirror, resolved before the worker runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot.app import default_segmenter_factory
from bot.config import load_settings
from segmentation.errors import ModelUnavailable
from segmentation.models.locks import LOCKS_DIR
from segmentation.models.registry import DEEPLAB_MNV2, FCN8S_VOC, lookup
from segmentation.models.store import installed_path, models_dir
from tests.bot.emulator import BotApiEmulator
from tests.bot.test_process import run_to_exit
from tests.conftest import SHARED_DIR
from tests.segmentation.models.fileserver import closed_base

TOKEN = "123456789:AAExampleTokenForTests000000000000"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "stickerbot"


def test_model_defaults_to_auto_and_accepts_names_and_paths() -> None:
    assert load_settings(None, BOT_TOKEN=TOKEN).MODEL == "auto"
    for value in ("deeplabv3-mnv2-dm05-voc", "fcn8s", "/m/x.tflite", "g.pb", "w.weights.h5"):
        settings = load_settings(None, BOT_TOKEN=TOKEN, MODEL=value)
        assert value == settings.MODEL


def test_auto_picks_fcn8s_when_its_weights_are_present(cache: Path) -> None:
    entry = lookup(FCN8S_VOC)
    assert entry is not None
    weights = installed_path(entry, cache)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"not really weights")
    factory = default_segmenter_factory(load_settings(None, BOT_TOKEN=TOKEN))
    # FCN-8s is the one opened: its (stand-in) weights file is what fails to load.
    with pytest.raises(ModelUnavailable, match=f"cannot load FCN-8s weights from {weights}"):
        factory()


def test_auto_otherwise_installs_deeplab_from_the_mirror(cache: Path) -> None:
    folder = SHARED_DIR / "models"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the real model files come from ../shared")
    settings = load_settings(None, BOT_TOKEN=TOKEN, STICKERBOT_MODEL_MIRROR=str(folder))
    factory = default_segmenter_factory(settings)
    assert pickle.loads(pickle.dumps(factory)).keywords["mirror"] == str(folder)
    segmenter = factory()
    installed = models_dir(cache) / "deeplabv3_mnv2_pascal_quant.tflite"
    assert segmenter.name == installed.name
    assert installed.read_bytes() == (folder / installed.name).read_bytes()


def test_an_unreachable_model_fails_before_the_bot_starts(cache: Path) -> None:
    settings = load_settings(None, BOT_TOKEN=TOKEN, MODEL=DEEPLAB_MNV2)
    with pytest.raises(ModelUnavailable, match="cannot download model 'deeplabv3-mnv2-voc'"):
        default_segmenter_factory(settings)()
    assert not any(p.is_file() and LOCKS_DIR not in p.parts for p in cache.rglob("*"))


async def test_offline_start_up_stops_with_one_line(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    code, err = await run_to_exit(
        emulator,
        tmp_path,
        BOT_TOKEN=emulator.token,
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        STICKERBOT_MODEL_MIRROR=closed_base(),
        LOG_LEVEL="ERROR",
    )
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("stickerbot bot: MODEL: cannot download model 'deeplabv3-mnv2-voc'")
    assert "sha256 350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398" in last
    # Nothing but the (empty) lock files, which stay: segmentation.models.locks.
    assert not any(p.is_file() and LOCKS_DIR not in p.parts for p in (tmp_path / "xdg").rglob("*"))
