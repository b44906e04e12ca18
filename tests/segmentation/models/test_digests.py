"""file_sha256(): a model file is read once per version -- an unchanged file is not hashed
again, a touched, rewritten or replaced one is -- and the sidecar is written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from segmentation.models import digests
from segmentation.models.digests import file_sha256, sidecar_path, write_atomically

DATA = bytes(range(256)) * 400
PAST_NS = 1_600_000_000 * 10**9  # September 2020


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file file_sha256 reads and hashes (the real hashing, counted)."""
    seen: list[Path] = []
    real: Callable[[Path], str] = digests.sha256_of

    def counting(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(digests, "sha256_of", counting)
    return seen


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if hashed long after the file's last write: the racy-write guard does not apply."""
    monkeypatch.setattr(digests, "RACY_SECONDS", 0.0)


def _model(folder: Path, data: bytes = DATA) -> Path:
    path = folder / "model.tflite"
    path.write_bytes(data)
    os.utime(path, ns=(PAST_NS, PAST_NS))
    return path


def _next_tick(path: Path) -> None:
    """Wait until a write would give ``path`` another ctime (file-system clocks are coarse)."""
    probe = path.with_name("clock-probe")
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_ctime_ns > path.stat().st_ctime_ns:
            probe.unlink()
            return
        time.sleep(0.001)


@pytest.mark.usefixtures("settled")
def test_an_unchanged_file_is_read_once(tmp_path: Path, reads: list[Path]) -> None:
    path = _model(tmp_path)
    expected = hashlib.sha256(DATA).hexdigest()
    assert file_sha256(path) == expected
    assert file_sha256(path) == expected
    assert file_sha256(path) == expected
    assert reads == [path]
    assert json.loads(sidecar_path(path).read_text())["sha256"] == expected
    assert sidecar_path(path) == tmp_path / ".model.tflite.sha256.json"


@pytest.mark.usefixtures("settled")
def test_a_touched_or_rewritten_file_is_read_again(tmp_path: Path, reads: list[Path]) -> None:
    path = _model(tmp_path)
    file_sha256(path)
    os.utime(path)  # touch: same bytes, new mtime
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert len(reads) == 2
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert len(reads) == 2  # remembered again
    path.write_bytes(DATA + b"more")  # another size
    assert file_sha256(path) == hashlib.sha256(DATA + b"more").hexdigest()
    assert len(reads) == 3


@pytest.mark.usefixtures("settled")
def test_same_size_same_mtime_other_bytes_is_read_again(tmp_path: Path, reads: list[Path]) -> None:
    """A copy that keeps the timestamps (cp -p, rsync -t --inplace) over the same inode: only
    the ctime, which no program can set back, tells it apart."""
    path = _model(tmp_path)
    file_sha256(path)
    before = path.stat()
    _next_tick(path)
    tampered = bytes(reversed(DATA))
    path.write_bytes(tampered)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert file_sha256(path) == hashlib.sha256(tampered).hexdigest()
    assert len(reads) == 2


@pytest.mark.usefixtures("settled")
def test_a_replaced_file_is_read_again(tmp_path: Path, reads: list[Path]) -> None:
    path = _model(tmp_path)
    file_sha256(path)
    (tmp_path / "new").mkdir()
    _model(tmp_path / "new", b"other model").replace(path)  # new inode, old sidecar kept
    assert file_sha256(path) == hashlib.sha256(b"other model").hexdigest()
    assert len(reads) == 2


def test_a_file_written_just_now_is_not_remembered(tmp_path: Path, reads: list[Path]) -> None:
    """Another write within the same clock tick would leave size and times unchanged."""
    path = tmp_path / "model.tflite"
    path.write_bytes(DATA)
    file_sha256(path)
    file_sha256(path)
    assert len(reads) == 2
    assert not sidecar_path(path).exists()


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize(
    "sidecar",
    ["{not json", "[]", '{"sha256": "00"}', '{"size": "1", "sha256": 5}'],
    ids=["garbage", "list", "no-identity", "wrong-types"],
)
def test_a_broken_sidecar_is_ignored_and_replaced(
    tmp_path: Path, reads: list[Path], sidecar: str
) -> None:
    path = _model(tmp_path)
    sidecar_path(path).write_text(sidecar)
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert len(reads) == 1


@pytest.mark.usefixtures("settled")
def test_an_unwritable_sidecar_only_costs_a_read(tmp_path: Path, reads: list[Path]) -> None:
    path = _model(tmp_path)
    sidecar_path(path).mkdir()  # cannot be replaced by a file (works as root too)
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert file_sha256(path) == hashlib.sha256(DATA).hexdigest()
    assert len(reads) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [sidecar_path(path).name, path.name]


def test_concurrent_writers_leave_one_whole_file(tmp_path: Path) -> None:
    """Eight writers replace one file 200 times each while a reader checks every version it
    sees: always one writer's whole text, and no temporary file is left behind."""
    target = tmp_path / "pins.json"
    texts = [json.dumps({"writer": n, "pad": "x" * (n * 5000)}) for n in range(8)]
    write_atomically(target, texts[0])
    stop = threading.Event()
    seen: list[str] = []
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(200):
                write_atomically(target, text)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            seen.append(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert errors == []
    assert seen
    assert set(seen) <= set(texts)
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]
