"""Fetch one file into the cache: resumable, verified, moved into place atomically.

:func:`fetch` downloads ``dest.name`` from the first source that answers (a mirror, when one
is set, replaces the origin URLs entirely: a server without internet sends nothing
outside). Bytes go to ``<dest's folder>/.partial/<name>.part``; a dropped connection is
resumed with an HTTP ``Range`` request (also by the next run); when the transfer is complete
its sha256 is checked and only then is the file renamed to ``dest``. A corrupt file is
deleted and reported with the expected and the actual hash; nothing incomplete ever carries
the final name. Two processes fetching the same file take turns (an inter-process lock per
file, :mod:`segmentation.models.locks`): the second finds the first's verified file and
downloads nothing. With no published hash (``sha256=None``) the caller records the
returned hash (trust on first use, :mod:`segmentation.models.store`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlparse

from segmentation.errors import ModelUnavailable
from segmentation.models.locks import locked
from segmentation.models.progress import Progress

logger = logging.getLogger(__name__)

PARTIAL_DIR: Final = ".partial"
CHUNK_BYTES: Final = 1 << 16
# Tries per source; each resumes where the previous one stopped, so a flaky link still
# finishes, while a source that sends nothing at all is given up at once.
ATTEMPTS: Final = 4
# Seconds without a byte before a connection is considered dead (then resumed).
TIMEOUT_SECONDS: Final = 30.0
USER_AGENT: Final = "stickerbot-model-download"


class ChecksumMismatch(ModelUnavailable):
    """The downloaded bytes do not have the expected sha256 (the file was deleted)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path
    sha256: str
    source: str


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` collect until they are verified."""
    return dest.parent / PARTIAL_DIR / f"{dest.name}.part"


def mirror_source(mirror: str, filename: str) -> str:
    """The file's URL or path under ``mirror`` (a base URL, a ``file://`` URL or a folder)."""
    if urlparse(mirror).scheme in ("http", "https"):
        return f"{mirror.rstrip('/')}/{filename}"
    folder = _local_path(mirror)
    return str(folder.expanduser() / filename)


def _local_path(location: str) -> Path:
    """A folder or file given as a path or a ``file://`` URL."""
    if location.startswith("file:"):
        return Path(urllib.request.url2pathname(urlparse(location).path))
    return Path(location)


def fetch(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str | None,
    mirror: str | None = None,
    progress: Progress | None = None,
    label: str | None = None,
) -> Fetched:
    """Download ``dest`` from ``urls`` (or only from ``mirror``) and verify it.

    One process at a time downloads a given ``dest`` (:mod:`segmentation.models.locks`); one
    that finds ``dest`` in place once it holds the lock -- another process installed it
    meanwhile -- returns it (checked against ``sha256`` when there is one) without a
    download. Raises :class:`ChecksumMismatch` for a corrupt file and
    :class:`ModelUnavailable` naming every source tried when none delivers.
    """
    with locked(dest, "download", say=lambda line: logger.warning("%s", line)):
        if dest.is_file():
            actual = sha256_of(dest)
            if sha256 is None or actual == sha256.lower():
                logger.info("%s is already installed (sha256 %s)", dest, actual)
                return Fetched(dest, actual, str(dest))
        return _fetch(urls, dest, sha256=sha256, mirror=mirror, progress=progress, label=label)


def _fetch(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str | None,
    mirror: str | None,
    progress: Progress | None,
    label: str | None,
) -> Fetched:
    sources = [mirror_source(mirror, dest.name)] if mirror else list(urls)
    part = partial_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    try:
        for source in sources:
            try:
                if urlparse(source).scheme in ("http", "https"):
                    _download(source, part, progress, label or dest.name)
                else:
                    _copy(source, part)
            except _SourceFailed as exc:
                logger.info("%s: %s", source, exc)
                failures.append(f"{source}: {exc}")
                continue
            actual = sha256_of(part)
            if sha256 is not None and actual != sha256.lower():
                part.unlink()
                raise ChecksumMismatch(
                    f"{dest.name} from {source} is corrupt: sha256 {actual}, expected {sha256}; "
                    "the file was deleted, nothing was installed"
                )
            part.replace(dest)
            logger.info("installed %s (sha256 %s) from %s", dest, actual, source)
            return Fetched(dest, actual, source)
    finally:
        if part.exists() and part.stat().st_size == 0:
            part.unlink()
        with contextlib.suppress(OSError):  # only when empty: a resumable file stays
            part.parent.rmdir()
    raise ModelUnavailable("; ".join(failures) or f"no source for {dest.name}")


class _SourceFailed(Exception):
    """This source did not deliver the whole file (the partial bytes are kept)."""


def _copy(source: str, part: Path) -> None:
    """A local file (a path or a ``file://`` URL), e.g. a mirror folder."""
    path = _local_path(source)
    if not path.is_file():
        raise _SourceFailed("no such file")
    try:
        shutil.copyfile(path, part)
    except OSError as exc:
        raise _SourceFailed(str(exc)) from exc


def _download(url: str, part: Path, progress: Progress | None, label: str) -> None:
    problem = "no attempt"
    for _attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        try:
            received, problem = _transfer(url, part, have, progress, label)
        except urllib.error.HTTPError as exc:
            raise _SourceFailed(f"HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _SourceFailed(str(getattr(exc, "reason", exc))) from exc
        if not problem:
            return
        if not received:
            break
        logger.warning("%s: %s after %d bytes; resuming", url, problem, part.stat().st_size)
    raise _SourceFailed(problem)


def _transfer(
    url: str, part: Path, have: int, progress: Progress | None, label: str
) -> tuple[int, str]:
    """One request appending to ``part``: (bytes received, "" if the file is whole, else why
    not). Raises when the request itself fails (no connection, HTTP error)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: what we have may be whole
            exc.close()
            return 0, ""
        raise
    with response:
        length = response.headers.get("Content-Length")
        if have and response.status == 206:
            mode, start = "ab", have
        else:  # the server ignored the range: start over
            mode, start = "wb", 0
        total = start + int(length) if length is not None else None
        received = 0
        problem = ""
        if progress is not None:
            progress.start(label, total, start)
        try:
            with part.open(mode) as out:
                while block := response.read(CHUNK_BYTES):
                    out.write(block)
                    received += len(block)
                    if progress is not None:
                        progress.update(len(block))
        except (OSError, http.client.HTTPException) as exc:
            problem = f"connection lost ({exc.__class__.__name__}: {exc})"
        finally:
            if progress is not None:
                progress.close()
    if not problem and total is not None and start + received < total:
        problem = f"the connection closed at byte {start + received} of {total}"
    return received, problem
