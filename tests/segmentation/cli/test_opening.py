"""How a command opens a model: ``make``'s first-run download, and offline, what it says
and what it leaves (nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segmentation import cli
from segmentation.models.registry import DEEPLAB_MNV2, REGISTRY
from segmentation.models.store import models_dir
from tests.segmentation.cli.conftest import files_in
from tests.segmentation.models.fileserver import Behaviour


def test_offline_make_says_how_to_get_the_model_and_leaves_nothing(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone, no ../shared, no network: `stickerbot make` explains and exits 5."""
    sticker = cache.parents[1] / "s.png"  # a folder that exists: only the model is missing
    code = cli.main(["make", "skimage:astronaut", "-o", str(sticker)])
    assert code == cli.EXIT_MODEL == 5
    err = capsys.readouterr().err
    entry = REGISTRY[0]
    assert entry.name == DEEPLAB_MNV2
    assert "cannot download model 'deeplabv3-mnv2-voc'" in err
    assert entry.urls[0] in err
    assert f"sha256 {entry.sha256}" in err
    assert str(models_dir(cache) / entry.filename) in err
    assert "STICKERBOT_MODEL_MIRROR" in err
    assert files_in(cache) == []
    assert not (models_dir(cache) / ".partial").exists()
    assert not sticker.exists()


@pytest.mark.slow
def test_first_make_downloads_the_default_model_and_makes_a_sticker(
    cache: Path,
    mirror: tuple[Behaviour, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    behaviour, url = mirror
    out = tmp_path / "astronaut.png"
    args = ["make", "skimage:astronaut", "-o", str(out), "--mirror", url, "--json"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["model"] == "deeplabv3_mnv2_pascal_quant.tflite"
    assert json.loads(captured.out)["target"] == "person"
    assert "deeplabv3-mnv2-voc: not installed; downloading 2.2 MB" in captured.err
    assert out.stat().st_size > 10_000
    # The second run uses the verified file without the network.
    assert cli.main(args) == 0
    assert len(behaviour.requests) == 1


OFFLINE_PROCESS = """
import socket, sys
real = socket.getaddrinfo
def offline(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, "offline")
    return real(host, *args, **kwargs)
socket.getaddrinfo = offline
from bot.cli import main
sys.argv = ["stickerbot", "make", "skimage:astronaut", "-o", "astronaut.sticker.png"]
raise SystemExit(main())
"""


def test_offline_make_as_a_process_away_from_the_checkout(tmp_path: Path) -> None:
    """The README's one command, run where no ../shared exists and no host resolves."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("STICKERBOT_MODEL_MIRROR", None)
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_PROCESS],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("stickerbot: cannot download model 'deeplabv3-mnv2-voc'")
    assert "sha256 350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398" in last
    assert "models/deeplabv3_mnv2_pascal_quant.tflite" in last
    assert files_in(tmp_path / "xdg") == []
    assert list(work.iterdir()) == []
