"""ensure(): install on first use, verify on every later use, trust on first use, the
offline message, archives."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from segmentation.errors import ModelUnavailable
from segmentation.models import digests
from segmentation.models.download import ChecksumMismatch
from segmentation.models.locks import LOCKS_DIR
from segmentation.models.registry import DEEPLAB_MNV2, XCEPTION65
from segmentation.models.store import (
    download_path,
    ensure,
    installed_path,
    is_installed,
    models_dir,
    recorded_hash,
)
from tests.segmentation.models.conftest import registry_entry, served_entry, tar_gz_bytes
from tests.segmentation.models.fileserver import Behaviour, closed_base

MODEL = b"TFL3" + bytes(range(256)) * 50


def _files(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and LOCKS_DIR not in p.parts  # lock files stay (locks.py says why)
    )


def test_first_use_downloads_later_uses_verify(cache: Path, http: tuple[Behaviour, str]) -> None:
    behaviour, base = http
    entry = served_entry(registry_entry(DEEPLAB_MNV2), base, MODEL)
    behaviour.files[f"/{entry.filename}"] = MODEL
    said: list[str] = []
    assert not is_installed(entry, cache)
    path = ensure(entry, cache_dir=cache, emit=said.append)
    assert path == models_dir(cache) / "deeplabv3_mnv2_pascal_quant.tflite"
    assert path.read_bytes() == MODEL
    assert is_installed(entry, cache)
    assert said == [f"{DEEPLAB_MNV2}: not installed; downloading 0.0 MB into {models_dir(cache)}"]
    assert ensure(entry, cache_dir=cache) == path
    assert len(behaviour.requests) == 1  # installed: no network
    path.write_bytes(MODEL[:-1] + b"!")
    with pytest.raises(ChecksumMismatch, match=f"expected {entry.sha256}"):
        ensure(entry, cache_dir=cache)


def test_trust_on_first_use_is_said_recorded_and_enforced(
    cache: Path, http: tuple[Behaviour, str]
) -> None:
    behaviour, base = http
    graph = b"frozen graph bytes" * 100
    archive = tar_gz_bytes({"deeplabv3_pascal_train_aug/frozen_inference_graph.pb": graph})
    entry = served_entry(registry_entry(XCEPTION65), base, archive, pinned=False)
    behaviour.files[f"/{entry.filename}"] = archive
    said: list[str] = []
    path = ensure(entry, cache_dir=cache, emit=said.append)
    assert path == installed_path(entry, cache)
    assert path == models_dir(cache) / XCEPTION65 / "frozen_inference_graph.pb"
    assert path.read_bytes() == graph
    digest = hashlib.sha256(archive).hexdigest()
    assert any(
        "trusting it on first use" in line and digest in line and "pins.json" in line
        for line in said
    )
    assert recorded_hash(download_path(entry, cache), cache) == digest
    assert recorded_hash(path, cache) == hashlib.sha256(graph).hexdigest()
    # The archive is unpacked and dropped; the graph is checked on every later use.
    assert _files(models_dir(cache)) == [f"{XCEPTION65}/frozen_inference_graph.pb", "pins.json"]
    said.clear()
    assert ensure(entry, cache_dir=cache, emit=said.append) == path
    assert said == []
    path.write_bytes(b"swapped")
    with pytest.raises(ChecksumMismatch, match="does not match its recorded sha256"):
        ensure(entry, cache_dir=cache)


def test_a_changed_archive_is_refused_after_first_use(
    cache: Path, http: tuple[Behaviour, str]
) -> None:
    behaviour, base = http
    first = tar_gz_bytes({"deeplabv3_pascal_train_aug/frozen_inference_graph.pb": b"one"})
    entry = served_entry(registry_entry(XCEPTION65), base, first, pinned=False)
    behaviour.files[f"/{entry.filename}"] = first
    path = ensure(entry, cache_dir=cache)
    path.unlink()  # reinstall: the same URL now serves other bytes
    behaviour.files[f"/{entry.filename}"] = tar_gz_bytes(
        {"deeplabv3_pascal_train_aug/frozen_inference_graph.pb": b"two"}
    )
    with pytest.raises(ChecksumMismatch, match=f"expected {hashlib.sha256(first).hexdigest()}"):
        ensure(entry, cache_dir=cache)
    assert not path.exists()


def test_an_archive_without_the_member_is_refused(cache: Path, http: tuple[Behaviour, str]) -> None:
    behaviour, base = http
    archive = tar_gz_bytes({"other/file.txt": b"x"})
    entry = served_entry(registry_entry(XCEPTION65), base, archive, pinned=False)
    behaviour.files[f"/{entry.filename}"] = archive
    with pytest.raises(ModelUnavailable, match="holds no deeplabv3_pascal_train_aug/frozen"):
        ensure(entry, cache_dir=cache)
    assert _files(cache) == []  # not installed, and not trusted either


def test_offline_message_names_url_hash_and_where_to_put_the_file(cache: Path) -> None:
    entry = served_entry(registry_entry(DEEPLAB_MNV2), closed_base(), MODEL)
    url = entry.urls[0]
    with pytest.raises(ModelUnavailable) as info:
        ensure(entry, cache_dir=cache)
    message = str(info.value)
    assert f"cannot download model {DEEPLAB_MNV2!r}" in message
    assert url in message
    assert f"sha256 {entry.sha256}" in message
    assert f"put it at {download_path(entry, cache)}" in message
    assert "STICKERBOT_MODEL_MIRROR" in message
    assert _files(cache) == []


def test_a_mirror_folder_installs_without_the_network(tmp_path: Path, cache: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    entry = served_entry(registry_entry(DEEPLAB_MNV2), closed_base(), MODEL)
    (mirror / entry.filename).write_bytes(MODEL)
    assert ensure(entry, cache_dir=cache, mirror=str(mirror)).read_bytes() == MODEL
    other = tmp_path / "empty"
    other.mkdir()
    with pytest.raises(ModelUnavailable, match=f"into the mirror {other / entry.filename}"):
        ensure(entry, cache_dir=tmp_path / "cache2", mirror=str(other))


def test_a_file_put_in_place_by_hand_is_used(cache: Path) -> None:
    entry = served_entry(registry_entry(DEEPLAB_MNV2), closed_base(), MODEL)
    download_path(entry, cache).parent.mkdir(parents=True)
    download_path(entry, cache).write_bytes(MODEL)
    assert ensure(entry, cache_dir=cache) == download_path(entry, cache)
    download_path(entry, cache).write_bytes(b"wrong file")
    with pytest.raises(ChecksumMismatch, match="published sha256"):
        ensure(entry, cache_dir=cache)


def test_later_uses_do_not_read_an_unchanged_model_again(
    cache: Path, http: tuple[Behaviour, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start verifies the model; it is read once, then known by its size, times and
    inode until it changes. A same-size file with the old mtime put over it is still read
    and refused."""
    behaviour, base = http
    entry = served_entry(registry_entry(DEEPLAB_MNV2), base, MODEL)
    behaviour.files[f"/{entry.filename}"] = MODEL
    path = ensure(entry, cache_dir=cache)
    monkeypatch.setattr(digests, "RACY_SECONDS", 0.0)  # a later start, not the same second
    read: list[Path] = []
    real = digests.sha256_of

    def counting(file: Path) -> str:
        read.append(file)
        return real(file)

    monkeypatch.setattr(digests, "sha256_of", counting)
    for _ in range(3):
        assert ensure(entry, cache_dir=cache) == path
    assert read == [path]
    os.utime(path)  # touched: read again, still the published bytes
    assert ensure(entry, cache_dir=cache) == path
    assert read == [path, path]
    old = path.stat()
    while path.stat().st_ctime_ns == old.st_ctime_ns:  # the next tick of the file clock
        time.sleep(0.001)
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    path.write_bytes(MODEL[:-1] + b"!")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    with pytest.raises(ChecksumMismatch, match=f"expected {entry.sha256}"):
        ensure(entry, cache_dir=cache)
    assert read == [path, path, path]
