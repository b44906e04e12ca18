"""The model cache: where each registry entry is installed, trust-on-first-use hashes, and
:func:`ensure`, which installs an entry (download, verify, unpack) or checks the installed one.

Layout under :func:`default_cache_dir`::

    <cache>/models/<file>                     a downloaded model (or archive), verified
    <cache>/models/<entry>/<member's name>    a file unpacked from an archive
    <cache>/models/.partial/<file>.part       bytes of an unfinished download (resumable)
    <cache>/models/pins.json                  sha256 recorded on first use, by cache path
    <cache>/models/.locks/<file>.<what>.lock  inter-process locks: one process installs a
                                              file (segmentation.models.locks)
    <cache>/models/.<file>.sha256.json        the file's last computed sha256, with its size,
                                              mtime, ctime and inode (not re-read while the
                                              same: segmentation.models.digests)
    <cache>/fcn8s_voc2012.weights.h5          FCN-8s, imported (segmentation.weights)
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Final

from segmentation.errors import ModelUnavailable
from segmentation.models.digests import discard, file_sha256, write_atomically
from segmentation.models.download import ChecksumMismatch, fetch, mirror_source
from segmentation.models.locks import locked
from segmentation.models.progress import Progress
from segmentation.models.registry import KERAS_FCN8S, ModelEntry

logger = logging.getLogger(__name__)

CACHE_APP_DIR: Final = "stickerbot"
MODELS_SUBDIR: Final = "models"
PINS_FILE: Final = "pins.json"
# FCN-8s imported into Keras (segmentation.weights); Keras 3 loads weights-only files only
# under a ".weights.h5" name.
FCN8S_WEIGHTS_FILENAME: Final = "fcn8s_voc2012.weights.h5"
# The environment variable of the mirror (a base URL or a folder holding the files).
MIRROR_ENV: Final = "STICKERBOT_MODEL_MIRROR"

Emit = Callable[[str], None]


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/stickerbot`` if that is set to an absolute path, else ``~/.cache/...``.

    The only place the default is computed; every ``cache_dir=None`` argument resolves here.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / CACHE_APP_DIR


def mirror_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """``$STICKERBOT_MODEL_MIRROR`` (unset or empty: None), read here and nowhere else."""
    env = os.environ if environ is None else environ
    return env.get(MIRROR_ENV) or None


def cache_root(cache_dir: Path | None) -> Path:
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def models_dir(cache_dir: Path | None = None) -> Path:
    return cache_root(cache_dir) / MODELS_SUBDIR


def download_path(entry: ModelEntry, cache_dir: Path | None = None) -> Path:
    """Where the entry's download lands (verified)."""
    return models_dir(cache_dir) / entry.filename


def installed_path(entry: ModelEntry, cache_dir: Path | None = None) -> Path:
    """The file the backend loads once the entry is installed."""
    if entry.backend == KERAS_FCN8S:
        return cache_root(cache_dir) / FCN8S_WEIGHTS_FILENAME
    if entry.member is not None:
        return models_dir(cache_dir) / entry.name / PurePosixPath(entry.member).name
    return download_path(entry, cache_dir)


def is_installed(entry: ModelEntry, cache_dir: Path | None = None) -> bool:
    return installed_path(entry, cache_dir).is_file()


# --- trust on first use ---------------------------------------------------------------------


def _pins_path(cache_dir: Path | None) -> Path:
    return models_dir(cache_dir) / PINS_FILE


def _key(path: Path, cache_dir: Path | None) -> str:
    try:
        return path.relative_to(cache_root(cache_dir)).as_posix()
    except ValueError:
        return str(path)


def recorded_hash(path: Path, cache_dir: Path | None = None) -> str | None:
    """The sha256 recorded for ``path`` on first use, if any."""
    pins = _pins_path(cache_dir)
    if not pins.is_file():
        return None
    try:
        data = json.loads(pins.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read the recorded model hashes {pins}: {exc}") from exc
    value = data.get(_key(path, cache_dir)) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def record_hash(path: Path, digest: str, cache_dir: Path | None = None) -> None:
    """Record ``digest`` as the trusted sha256 of ``path`` (atomically rewrites pins.json,
    under a lock so that concurrent records all stay)."""
    pins = _pins_path(cache_dir)
    pins.parent.mkdir(parents=True, exist_ok=True)
    with locked(pins, "update"):  # read, change, write: one process at a time loses nothing
        data = json.loads(pins.read_text(encoding="utf-8")) if pins.is_file() else {}
        data[_key(path, cache_dir)] = digest
        write_atomically(pins, json.dumps(data, indent=2, sort_keys=True) + "\n")


def verify_file(
    path: Path,
    expected: str | None,
    cache_dir: Path | None,
    emit: Emit,
    what: str,
    *,
    record: bool = True,
    fresh: bool = False,
) -> str:
    """Check ``path`` against ``expected`` or its recorded hash; with neither, record it
    (trust on first use, said through ``emit``) if ``record``. Returns the file's sha256,
    read only when the file changed since it was last hashed, or always if ``fresh``
    (:func:`~segmentation.models.digests.file_sha256`)."""
    actual = file_sha256(path, fresh=fresh)
    trusted = expected or recorded_hash(path, cache_dir)
    if trusted is None:
        if record:
            trust_on_first_use(path, actual, cache_dir, emit, what)
    elif actual != trusted.lower():
        raise ChecksumMismatch(
            f"{path} does not match its {'published' if expected else 'recorded'} sha256: "
            f"expected {trusted}, got {actual}; delete it and download again "
            f"(`stickerbot models download`)"
        )
    return actual


def trust_on_first_use(
    path: Path, digest: str, cache_dir: Path | None, emit: Emit, what: str
) -> None:
    """Record ``digest`` for ``path`` and say so."""
    record_hash(path, digest, cache_dir)
    emit(
        f"{what}: no published sha256, trusting it on first use: recorded sha256 {digest} "
        f"of {path.name} in {_pins_path(cache_dir)}; every later use is checked against it"
    )


# --- install --------------------------------------------------------------------------------


def manual_install_hint(entry: ModelEntry, cache_dir: Path | None, mirror: str | None) -> str:
    """How to put the entry's file in place by hand."""
    expected = (
        f"sha256 {entry.sha256}"
        if entry.sha256
        else "no published sha256 (it is recorded on first use)"
    )
    where = download_path(entry, cache_dir)
    mirror_note = (
        f" or into the mirror {mirror_source(mirror, entry.filename)}"
        if mirror
        else f", or point {MIRROR_ENV} at a folder or server that holds {entry.filename}"
    )
    return (
        f"download {' or '.join(entry.urls)} on a machine with internet access ({expected}, "
        f"{entry.size_text}) and put it at {where}{mirror_note}"
    )


def ensure(
    entry: ModelEntry,
    *,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
) -> Path:
    """The installed, verified file of ``entry``: downloaded and unpacked on first use.

    Raises :class:`ModelUnavailable` with the URL, the expected hash and where to put the
    file by hand when it cannot be fetched, and :class:`ChecksumMismatch` for a corrupt file.
    """
    say = emit or (lambda line: logger.warning("%s", line))
    product = installed_path(entry, cache_dir)
    if product.is_file():  # no lock: an installed model may sit in a read-only cache
        verify_file(product, installed_hash(entry), cache_dir, say, entry.name)
        return product
    with locked(product, "install", say=say):  # one process installs, the others wait
        if product.is_file():  # installed by the process this one waited for
            verify_file(product, installed_hash(entry), cache_dir, say, entry.name)
            return product
        return _install(entry, product, cache_dir, mirror, progress, say)


def _install(
    entry: ModelEntry,
    product: Path,
    cache_dir: Path | None,
    mirror: str | None,
    progress: Progress | None,
    say: Emit,
) -> Path:
    if entry.backend == KERAS_FCN8S:
        from segmentation.weights import install_fcn8s

        install_fcn8s(cache_dir, url=entry.urls[0], mirror=mirror, progress=progress, emit=say)
        trust_on_first_use(product, file_sha256(product), cache_dir, say, f"{entry.name} weights")
        return product
    archive = download_path(entry, cache_dir)
    pinned = entry.sha256 or recorded_hash(archive, cache_dir)
    if archive.is_file():  # put there by hand, or left by an interrupted unpack
        digest = verify_file(archive, pinned, cache_dir, say, entry.name, record=False)
    else:
        say(f"{entry.name}: not installed; downloading {entry.size_text} into {archive.parent}")
        try:
            digest = fetch(
                entry.urls,
                archive,
                sha256=pinned,
                mirror=mirror,
                progress=progress,
                label=entry.name,
            ).sha256
        except ChecksumMismatch:
            raise
        except ModelUnavailable as exc:
            raise ModelUnavailable(
                f"cannot download model {entry.name!r} ({exc}); to install it by hand, "
                + manual_install_hint(entry, cache_dir, mirror)
            ) from exc
    if entry.member is not None:
        extract_member(archive, entry.member, product)
    if pinned is None:  # recorded once the file proved usable
        trust_on_first_use(archive, digest, cache_dir, say, entry.name)
    if entry.member is not None:
        record_hash(product, file_sha256(product), cache_dir)
        discard(archive)
    return product


def installed_hash(entry: ModelEntry) -> str | None:
    """The published hash of what the backend loads (only when it is the download itself)."""
    return entry.sha256 if entry.member is None and entry.backend != KERAS_FCN8S else None


def extract_member(archive: Path, member: str, dest: Path) -> None:
    """Extract one regular file of a tar archive to ``dest`` (atomically); an archive that
    cannot give it is deleted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with tarfile.open(archive) as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise ModelUnavailable(f"{archive} holds no {member}") from None
            source = tar.extractfile(info) if info.isfile() else None
            if source is None:
                raise ModelUnavailable(f"{member} in {archive} is not a regular file")
            with source, partial.open("wb") as out:
                while block := source.read(1 << 20):
                    out.write(block)
        partial.replace(dest)
    except (tarfile.TarError, OSError) as exc:
        discard(archive)
        raise ModelUnavailable(f"cannot unpack {member} from {archive}: {exc}") from exc
    except ModelUnavailable:
        discard(archive)  # not the archive it should be: never kept
        raise
    finally:
        partial.unlink(missing_ok=True)
