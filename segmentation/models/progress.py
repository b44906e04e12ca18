"""Download progress: a tqdm bar on a terminal, plain lines otherwise (logs, CI, the bot)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Protocol, TextIO

logger = logging.getLogger(__name__)

# Plain-line progress reports every this share of the file.
LINE_STEP = 0.25


class Progress(Protocol):
    """Told about one transfer: its start (bytes already there), each chunk, its end."""

    def start(self, label: str, total: int | None, initial: int) -> None: ...

    def update(self, nbytes: int) -> None: ...

    def close(self) -> None: ...


class BarProgress:
    """A tqdm progress bar (bytes, rate, time left) on ``stream``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._bar: object = None

    def start(self, label: str, total: int | None, initial: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=self._stream,
            leave=True,
        )

    def update(self, nbytes: int) -> None:
        from tqdm import tqdm

        if isinstance(self._bar, tqdm):
            self._bar.update(nbytes)

    def close(self) -> None:
        from tqdm import tqdm

        if isinstance(self._bar, tqdm):
            self._bar.close()
        self._bar = None


class LineProgress:
    """One line at the start, at every :data:`LINE_STEP` of the file, and at the end."""

    def __init__(self, emit: Callable[[str], None] | None = None) -> None:
        # None: log lines (INFO); kept as None so that the object pickles (model processes).
        self._sink = emit
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._next = 0.0

    def start(self, label: str, total: int | None, initial: int) -> None:
        self._label, self._total, self._done = label, total, initial
        size = f"{total / 1e6:.1f} MB" if total else "size unknown"
        resumed = f", resuming at {initial / 1e6:.1f} MB" if initial else ""
        self._emit(f"{label}: downloading ({size}{resumed})")
        self._next = (initial / total if total else 0.0) + LINE_STEP

    def update(self, nbytes: int) -> None:
        self._done += nbytes
        if self._total and self._done / self._total >= self._next and self._done < self._total:
            self._emit(f"{self._label}: {self._done / self._total:.0%} ({self._done / 1e6:.1f} MB)")
            while self._next <= self._done / self._total:
                self._next += LINE_STEP

    def close(self) -> None:
        self._emit(f"{self._label}: {self._done / 1e6:.1f} MB received")

    def _emit(self, line: str) -> None:
        if self._sink is None:
            logger.info("%s", line)
        else:
            self._sink(line)


def progress_for(stream: TextIO | None = None) -> Progress:
    """A bar when ``stream`` (default stderr) is a terminal, else plain lines written to it."""
    out = stream or sys.stderr
    if out.isatty():
        return BarProgress(out)
    return LineProgress(lambda line: print(line, file=out, flush=True))
