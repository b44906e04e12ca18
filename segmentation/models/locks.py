"""Inter-process locks on cache files: two processes that need the same model (the bot and
``stickerbot models download``, two workers starting at once) download it once -- the second
waits for the first, then finds the installed, verified file.

A lock is a file under ``<the target's folder>/.locks/`` held with ``flock`` (the filelock
package): the kernel releases it when its holder exits, however it exits, so a killed
download never leaves a stale lock behind. The empty lock files stay (removing one while
another process waits on it would let a third take "the same" lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from filelock import FileLock, Timeout

from segmentation.errors import ModelUnavailable

logger = logging.getLogger(__name__)

LOCKS_DIR: Final = ".locks"
# How long a process waits for another one's download: the largest model (FCN-8s, 0.5 GB)
# at a slow 0.3 MB/s. A holder that dies releases the lock at once; only a live, stuck one
# runs into this (its download itself gives up after 30 s without a byte).
LOCK_TIMEOUT_SECONDS: Final = 30 * 60.0

Say = Callable[[str], None]


def lock_path(target: Path, purpose: str) -> Path:
    """The lock file guarding ``purpose`` (download, install, update) of ``target``."""
    return target.parent / LOCKS_DIR / f"{target.name}.{purpose}.lock"


@contextmanager
def locked(target: Path, purpose: str, *, say: Say | None = None) -> Iterator[None]:
    """Hold the ``purpose`` lock of ``target`` for the block, waiting (said through ``say``,
    else logged) while another process holds it.

    Raises :class:`ModelUnavailable` naming the target and the lock file after
    :data:`LOCK_TIMEOUT_SECONDS`, or when the lock file cannot be created.
    """
    path = lock_path(target, purpose)
    lock = FileLock(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            line = (
                f"{target.name}: another process is at the {purpose} of {target}; waiting for "
                f"it (up to {LOCK_TIMEOUT_SECONDS:g} s, lock {path})"
            )
            if say is None:
                logger.info("%s", line)
            else:
                say(line)
            lock.acquire(timeout=LOCK_TIMEOUT_SECONDS)
    except Timeout:
        raise ModelUnavailable(
            f"gave up after {LOCK_TIMEOUT_SECONDS:g} s waiting for another process's "
            f"{purpose} of {target}: it still holds {path}; stop that process or try again "
            "once it is done"
        ) from None
    except OSError as exc:
        raise ModelUnavailable(f"cannot lock {path} for the {purpose} of {target}: {exc}") from exc
    try:
        yield
    finally:
        lock.release()
