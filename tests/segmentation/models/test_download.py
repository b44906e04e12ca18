"""fetch(): download from a loopback server with progress, resume, verification, mirror."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from segmentation.errors import ModelUnavailable
from segmentation.models import download
from segmentation.models.download import ChecksumMismatch, fetch, partial_path
from segmentation.models.locks import LOCKS_DIR
from segmentation.models.progress import BarProgress, LineProgress
from tests.segmentation.models.fileserver import Behaviour, closed_port_url, serve

PAYLOAD = bytes(range(256)) * 1200  # 300 KB, several chunks
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    """The files under ``folder`` but the locks' (they stay: segmentation.models.locks)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and LOCKS_DIR not in p.parts
    )


def test_download_with_progress_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    with serve(Behaviour(files={"/m.bin": PAYLOAD})) as base:
        got = fetch(
            [f"{base}/m.bin"],
            tmp_path / "m.bin",
            sha256=DIGEST,
            progress=LineProgress(lines.append),
            label="m",
        )
    assert got.path.read_bytes() == PAYLOAD
    assert got.sha256 == DIGEST
    assert lines[0] == "m: downloading (0.3 MB)"
    shares = [int(line.split()[1].rstrip("%")) for line in lines if "%" in line]
    assert len(shares) == 3  # one line per quarter crossed (64 KB chunks)
    assert all(share >= 25 * (i + 1) for i, share in enumerate(shares))
    assert lines[-1] == "m: 0.3 MB received"
    assert _leftovers(tmp_path) == ["m.bin"]


def test_download_with_a_progress_bar(tmp_path: Path) -> None:
    stream = io.StringIO()
    with serve(Behaviour(files={"/m.bin": PAYLOAD})) as base:
        fetch([f"{base}/m.bin"], tmp_path / "m.bin", sha256=DIGEST, progress=BarProgress(stream))
    bar = stream.getvalue()
    assert "m.bin" in bar
    assert "100%" in bar
    assert "300k/300k" in bar  # KiB: 307200 / 1024


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    behaviour = Behaviour(files={"/m.bin": PAYLOAD}, drop_after=100_000, drops=2)
    with serve(behaviour) as base:
        got = fetch([f"{base}/m.bin"], tmp_path / "m.bin", sha256=DIGEST)
    assert got.path.read_bytes() == PAYLOAD
    assert behaviour.requests == [
        ("/m.bin", None),
        ("/m.bin", "bytes=100000-"),
        ("/m.bin", "bytes=200000-"),
    ]


def test_the_next_run_resumes_what_a_failed_run_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "ATTEMPTS", 1)
    behaviour = Behaviour(files={"/m.bin": PAYLOAD}, drop_after=120_000, drops=1)
    dest = tmp_path / "m.bin"
    with serve(behaviour) as base:
        with pytest.raises(ModelUnavailable, match="closed at byte 120000 of 307200"):
            fetch([f"{base}/m.bin"], dest, sha256=DIGEST)
        assert not dest.exists()  # never under the final name while incomplete
        assert partial_path(dest).stat().st_size == 120_000
        fetch([f"{base}/m.bin"], dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD
    assert behaviour.requests[-1] == ("/m.bin", "bytes=120000-")
    assert not partial_path(dest).exists()


def test_a_server_that_ignores_the_range_restarts_cleanly(tmp_path: Path) -> None:
    dest = tmp_path / "m.bin"
    partial_path(dest).parent.mkdir(parents=True)
    partial_path(dest).write_bytes(b"stale bytes from elsewhere")
    with serve(Behaviour(files={"/m.bin": PAYLOAD}, ignore_range=True)) as base:
        fetch([f"{base}/m.bin"], dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD


def test_a_corrupt_file_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    corrupt = PAYLOAD[:-1] + b"\x00"
    with (
        serve(Behaviour(files={"/m.bin": corrupt})) as base,
        pytest.raises(ChecksumMismatch) as info,
    ):
        fetch([f"{base}/m.bin"], tmp_path / "cache" / "m.bin", sha256=DIGEST)
    message = str(info.value)
    assert f"expected {DIGEST}" in message
    assert hashlib.sha256(corrupt).hexdigest() in message
    assert _leftovers(tmp_path / "cache") == []


def test_the_next_url_is_tried_when_one_fails(tmp_path: Path) -> None:
    behaviour = Behaviour(files={"/m.bin": PAYLOAD})
    with serve(behaviour) as base:
        got = fetch([f"{base}/gone.bin", f"{base}/m.bin"], tmp_path / "m.bin", sha256=DIGEST)
    assert got.source == f"{base}/m.bin"
    assert [path for path, _ in behaviour.requests] == ["/gone.bin", "/m.bin"]


def test_a_mirror_url_replaces_the_origin(tmp_path: Path) -> None:
    origin = Behaviour(files={"/m.bin": PAYLOAD})
    mirror = Behaviour(files={"/pub/models/m.bin": PAYLOAD})
    with serve(origin) as origin_base, serve(mirror) as mirror_base:
        got = fetch(
            [f"{origin_base}/m.bin"],
            tmp_path / "m.bin",
            sha256=DIGEST,
            mirror=f"{mirror_base}/pub/models/",
        )
    assert got.source == f"{mirror_base}/pub/models/m.bin"
    assert origin.requests == []
    assert got.path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("as_uri", [False, True])
def test_a_mirror_folder_is_copied_from_and_verified(tmp_path: Path, as_uri: bool) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "m.bin").write_bytes(PAYLOAD)
    mirror = folder.as_uri() if as_uri else str(folder)
    got = fetch(
        [closed_port_url("m.bin")], tmp_path / "cache" / "m.bin", sha256=DIGEST, mirror=mirror
    )
    assert got.path.read_bytes() == PAYLOAD
    (folder / "m.bin").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch):
        fetch([], tmp_path / "cache2" / "m.bin", sha256=DIGEST, mirror=mirror)
    assert _leftovers(tmp_path / "cache2") == []


def test_an_unreachable_source_leaves_nothing(tmp_path: Path) -> None:
    url = closed_port_url("m.bin")
    with pytest.raises(ModelUnavailable, match=rf"{url}: .*refused"):
        fetch([url], tmp_path / "cache" / "m.bin", sha256=DIGEST)
    assert _leftovers(tmp_path / "cache") == []


def test_an_http_error_is_reported(tmp_path: Path) -> None:
    with serve(Behaviour()) as base, pytest.raises(ModelUnavailable, match="HTTP 404"):
        fetch([f"{base}/m.bin"], tmp_path / "m.bin", sha256=DIGEST)
