"""``stickerbot models``, ``stickerbot evaluate`` and ``make``'s first-run download."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from segmentation import cli
from segmentation.models.digests import sidecar_path
from segmentation.models.locks import LOCKS_DIR
from segmentation.models.registry import DEEPLAB_MNV2, DEEPLAB_MNV2_DM05, REGISTRY, lookup
from segmentation.models.store import ensure, models_dir
from tests.conftest import SHARED_DIR
from tests.segmentation.models.fileserver import Behaviour, serve

MODELS = SHARED_DIR / "models"


def _files(folder: Path) -> list[str]:
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


def test_models_lists_every_entry(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    for entry in REGISTRY:
        assert entry.name in out
        assert entry.licence in out
    assert "2.2 MB" in out
    assert cli.main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert [row["name"] for row in rows] == [entry.name for entry in REGISTRY]
    assert all(row["installed"] is None for row in rows)


def test_offline_make_says_how_to_get_the_model_and_leaves_nothing(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone, no ../shared, no network: `stickerbot make` explains and exits 5."""
    code = cli.main(["make", "skimage:astronaut", "-o", str(cache.parent / "s.png")])
    assert code == cli.EXIT_MODEL == 5
    err = capsys.readouterr().err
    entry = REGISTRY[0]
    assert entry.name == DEEPLAB_MNV2
    assert "cannot download model 'deeplabv3-mnv2-voc'" in err
    assert entry.urls[0] in err
    assert f"sha256 {entry.sha256}" in err
    assert str(models_dir(cache) / entry.filename) in err
    assert "STICKERBOT_MODEL_MIRROR" in err
    assert _files(cache) == []
    assert not (models_dir(cache) / ".partial").exists()
    assert not (cache.parent / "s.png").exists()


def test_models_download_and_verify_through_a_mirror(
    cache: Path,
    mirror: tuple[Behaviour, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    behaviour, url = mirror
    monkeypatch.setenv("STICKERBOT_MODEL_MIRROR", url)
    assert cli.main(["models", "download", DEEPLAB_MNV2_DM05]) == 0
    captured = capsys.readouterr()
    installed = models_dir(cache) / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    assert f"installed: {DEEPLAB_MNV2_DM05} {installed}" in captured.out
    assert "deeplabv3-mnv2-dm05-voc: downloading (0.8 MB)" in captured.err  # progress lines
    assert behaviour.requests == [(f"/m/{installed.name}", None)]
    assert cli.main(["models", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"{DEEPLAB_MNV2_DM05:<30} ok" in out
    assert f"{DEEPLAB_MNV2:<30} not installed" in out
    installed.write_bytes(installed.read_bytes()[:-1])
    assert cli.main(["models", "verify"]) == cli.EXIT_MODEL
    assert "FAILED" in capsys.readouterr().out
    assert cli.main(["models", "download", "nope"]) == cli.EXIT_USAGE
    assert "unknown model 'nope'" in capsys.readouterr().err



def test_models_verify_reads_every_file_again(
    cache: Path,
    mirror: tuple[Behaviour, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Starts trust a file's remembered sha256 while its size, times and inode are unchanged;
    `models verify` does not: bit rot changes no metadata. Simulated by remembering the
    published sha256 for bytes changed behind the metadata's back."""
    _behaviour, url = mirror
    monkeypatch.setenv("STICKERBOT_MODEL_MIRROR", url)
    assert cli.main(["models", "download", DEEPLAB_MNV2_DM05]) == 0
    entry = lookup(DEEPLAB_MNV2_DM05)
    assert entry is not None
    installed = models_dir(cache) / entry.filename
    installed.write_bytes(b"rot" + installed.read_bytes()[3:])
    st = installed.stat()
    identity = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
    }
    sidecar_path(installed).write_text(json.dumps({**identity, "sha256": entry.sha256}))
    assert ensure(entry, cache_dir=cache) == installed  # the remembered hash is taken
    capsys.readouterr()
    assert cli.main(["models", "verify"]) == cli.EXIT_MODEL
    out = capsys.readouterr().out
    assert f"{DEEPLAB_MNV2_DM05:<30} FAILED" in out
    assert f"expected {entry.sha256}" in out

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


@pytest.mark.slow
def test_evaluate_reports_both_crf_modes(
    deeplab_small_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devset = SHARED_DIR / "devset"
    args = ["evaluate", str(devset), "--model", str(deeplab_small_model_path), "--limit", "3"]
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3
    assert set(report["results"]) == {"crf", "no_crf"}
    for scores in report["results"].values():
        assert 0.0 < scores["miou"] <= 1.0
        assert "background" in scores["iou"]
    assert cli.main([*args, "--crf", "off"]) == 0
    out = capsys.readouterr().out
    assert "mean IoU" in out
    assert "crf off" in out
    assert "crf on" not in out


def test_evaluate_refuses_a_folder_that_is_not_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evaluate", str(tmp_path)]) == cli.EXIT_USAGE
    assert "is not a dataset" in capsys.readouterr().err


def test_evaluate_reports_a_bad_mask_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from tests.segmentation.datasets_kit import save_palette_mask
    from tests.standins import ColourSegmenter

    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 6), (200, 20, 20)).save(tmp_path / "images" / "a.png")
    save_palette_mask(np.full((6, 8), 40, np.uint8), tmp_path / "masks" / "a.png")
    monkeypatch.setattr("segmentation.cli.opening.open_segmenter", lambda _args: ColourSegmenter())
    assert cli.main(["evaluate", str(tmp_path), "--crf", "off"]) == cli.EXIT_USAGE
    assert "labels [40] outside 0..20" in capsys.readouterr().err


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
    assert _files(tmp_path / "xdg") == []
    assert list(work.iterdir()) == []
