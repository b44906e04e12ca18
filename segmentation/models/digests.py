"""The sha256 of a model file, read once per version of the file.

Hashing a 0.5 GB model takes about a second, and every start verifies the model. The digest
is remembered in a sidecar beside the file (``.<name>.sha256.json``) together with the
file's identity -- size, mtime_ns, ctime_ns, inode, device -- and reused while all of them
stay the same. Any write to the file changes its ctime (which no program can set back, unlike
the mtime), so a changed, touched or replaced file is read and hashed again, and a changed
file still fails its check against the published or recorded hash
(:mod:`segmentation.models.store`).

A file changed within :data:`RACY_SECONDS` of being hashed is not remembered: a second write
in the same timestamp tick would leave its identity unchanged (git's "racy clean" problem).
The sidecar is a cache: it is replaced atomically, and one that is unreadable, unwritable or
describes another version of the file is ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Final

from segmentation.models.download import sha256_of

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX: Final = ".sha256.json"
# A file whose mtime or ctime is this close to the moment it was hashed may still be written
# to within the same timestamp tick (coarse file-system clocks: up to 2 s on FAT), unseen.
RACY_SECONDS: Final = 2.0
_IDENTITY: Final = ("size", "mtime_ns", "ctime_ns", "inode", "device")


def sidecar_path(path: Path) -> Path:
    """Where the digest of ``path`` is remembered."""
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def file_sha256(path: Path, *, fresh: bool = False) -> str:
    """Hex sha256 of ``path``: the remembered one while the file is unchanged, else (or
    always when ``fresh``: a check for bit rot, which changes no metadata) read and hashed,
    and remembered. Raises :class:`OSError` when the file cannot be read."""
    before = _identity(path)
    remembered = None if fresh else _remembered(path)
    if remembered is not None and remembered[0] == before:
        return remembered[1]
    digest = sha256_of(path)
    after = _identity(path)
    if after == before and not _racy(after):
        _remember(path, after, digest)
    return digest


def discard(path: Path) -> None:
    """Delete ``path`` (if there) and its remembered sha256."""
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    values = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    return dict(zip(_IDENTITY, values, strict=True))


def _racy(identity: dict[str, int]) -> bool:
    changed = max(identity["mtime_ns"], identity["ctime_ns"]) / 1e9
    return time.time() - changed < RACY_SECONDS


def _remembered(path: Path) -> tuple[dict[str, int], str] | None:
    try:
        data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        identity = {key: data[key] for key in _IDENTITY}
        digest = data["sha256"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(digest, str) or not all(type(v) is int for v in identity.values()):
        return None
    return identity, digest


def _remember(path: Path, identity: dict[str, int], digest: str) -> None:
    try:
        write_atomically(sidecar_path(path), json.dumps({**identity, "sha256": digest}) + "\n")
    except OSError as exc:  # e.g. a read-only folder: hashed again next time
        logger.debug("cannot remember the sha256 of %s: %s", path, exc)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` through a temporary file of a unique name in the same
    folder and a rename: a reader sees the old or the new whole file, and concurrent writers
    (threads or processes) leave one of theirs, never a mix. Raises :class:`OSError`."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # Created like any file (mode 0o666 less the umask), unlike tempfile's private 0o600:
    # a cache installed by one account stays readable by the service's.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
