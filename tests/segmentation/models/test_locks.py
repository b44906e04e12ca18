"""Inter-process locks: two processes installing the same model download it once (the
second waits, then finds the verified file); a lock held too long is a clear error; records
in pins.json made at once all stay."""

from __future__ import annotations

import hashlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from segmentation.errors import ModelUnavailable
from segmentation.models import locks
from segmentation.models.download import fetch
from segmentation.models.locks import lock_path
from segmentation.models.registry import DEEPLAB_MNV2
from segmentation.models.store import ensure, models_dir, record_hash, recorded_hash
from tests.segmentation.models.conftest import registry_entry, served_entry
from tests.segmentation.models.fileserver import Behaviour, serve

REPO = Path(__file__).resolve().parents[3]
PAYLOAD = bytes(range(256)) * 1200
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
# Generous bounds for a busy machine; each wait ends as soon as its event happens.
DEADLINE_SECONDS = 120.0


class _Child:
    """``tests.segmentation.models.child`` in its own Python process; its stderr lines are
    collected as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.segmentation.models.child", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_to_say(self, words: str) -> None:
        end = time.monotonic() + DEADLINE_SECONDS
        while not any(words in line for line in self.said):
            try:
                self.said.append(self.lines.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                self.process.kill()
                pytest.fail(f"the process never said {words!r}; it said {self.said}")

    def result(self) -> str:
        out, _ = self.process.communicate(timeout=DEADLINE_SECONDS)
        while not self.lines.empty():
            self.said.append(self.lines.get())
        assert self.process.returncode == 0, self.said
        return out.strip()


def _wait_for(check: Callable[[], object]) -> None:
    end = time.monotonic() + DEADLINE_SECONDS
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("mode", ["fetch", "ensure"])
def test_two_processes_download_once(tmp_path: Path, mode: str) -> None:
    """The first process's download is held open by the server until the second process says
    it waits for the lock; then both end with the same verified file, served once."""
    gate = threading.Event()
    behaviour = Behaviour(files={"/m.bin": PAYLOAD}, gate=gate)
    cache = tmp_path / "cache"  # fetch: the file itself; ensure: the cache folder
    dest = cache / "m.bin" if mode == "fetch" else cache
    with serve(behaviour) as base:
        first = _Child(mode, f"{base}/m.bin", str(dest), DIGEST)
        _wait_for(lambda: behaviour.requests)  # the first is downloading
        second = _Child(mode, f"{base}/m.bin", str(dest), DIGEST)
        try:
            second.wait_to_say("another process is at the")
        finally:
            gate.set()
        assert first.result() == second.result() == DIGEST
    assert behaviour.requests == [("/m.bin", None)]  # served once
    installed = (
        dest if mode == "fetch" else models_dir(cache) / registry_entry(DEEPLAB_MNV2).filename
    )
    assert installed.read_bytes() == PAYLOAD
    assert not any("downloading" in line for line in second.said)


def test_a_lock_held_too_long_names_the_file_and_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LOCK_TIMEOUT_SECONDS", 0.2)
    dest = tmp_path / "m.bin"
    holder = FileLock(lock_path(dest, "download"))
    lock_path(dest, "download").parent.mkdir(parents=True)
    with holder, pytest.raises(ModelUnavailable) as info:
        fetch(["http://127.0.0.1:9/m.bin"], dest, sha256=DIGEST)
    message = str(info.value)
    assert f"waiting for another process's download of {dest}" in message
    assert str(lock_path(dest, "download")) in message
    assert "gave up after 0.2 s" in message


def test_ensure_waits_then_takes_the_model_the_other_process_installed(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process, the waiting side of ensure(): while another holds the install lock
    nothing is fetched; once it lets go with the model in place, that model is verified and
    used (the closed server would fail any download)."""
    entry = served_entry(registry_entry(DEEPLAB_MNV2), "http://127.0.0.1:9", PAYLOAD)
    product = models_dir(cache) / entry.filename
    lock = FileLock(lock_path(product, "install"))
    lock_path(product, "install").parent.mkdir(parents=True)
    said: list[str] = []
    result: list[Path] = []
    with lock:
        worker = threading.Thread(
            target=lambda: result.append(ensure(entry, cache_dir=cache, emit=said.append))
        )
        worker.start()
        _wait_for(lambda: said)
        product.write_bytes(PAYLOAD)  # what the other process installs
    worker.join(DEADLINE_SECONDS)
    assert result == [product]
    assert len(said) == 1
    assert said[0].startswith(f"{entry.filename}: another process is at the install of {product}")


def test_records_made_at_once_all_stay(cache: Path) -> None:
    """Eight threads record twenty files' hashes each, all at once: pins.json keeps every
    one (each record reads, changes and rewrites the file, under the lock)."""
    batches = [[models_dir(cache) / f"m{t}-{n}.tflite" for n in range(20)] for t in range(8)]
    start = threading.Barrier(len(batches))

    def record(paths: list[Path]) -> None:
        start.wait()
        for path in paths:
            record_hash(path, hashlib.sha256(path.name.encode()).hexdigest(), cache)

    threads = [threading.Thread(target=record, args=(paths,)) for paths in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [path for paths in batches for path in paths]
    assert [recorded_hash(path, cache) for path in every] == [
        hashlib.sha256(path.name.encode()).hexdigest() for path in every
    ]
