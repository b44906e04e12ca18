"""The inference engine: owns the Segmenter, runs the pipeline off the event loop.

A one-worker executor holds the model (loaded and warmed up there, kept in thread-local
storage) and runs :func:`compute` -- a plain function from ``(bytes, StickerOptions)`` to a
:class:`~bot.results.JobResult`; only picklable data crosses. The executor is either

* a child **process** (the default in production): the dense CRF holds the GIL for tens of
  milliseconds at a time, which a thread would turn into event-loop stalls, and a model that
  crashes the process takes down only the child, which is started again; or
* a **thread**: no start-up cost and any factory (tests use unpicklable stand-ins).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.results import ErrorKind, JobResult, kind_of
from segmentation.errors import StickerError
from segmentation.options import StickerOptions

if TYPE_CHECKING:
    from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

SegmenterFactory = Callable[[], "Segmenter"]

# The model belongs to the executor's thread (a process pool would keep it per process).
_local = threading.local()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    backend: str
    device: str
    # What the backend computes in (fp32, bf16, an export's int8...).
    precision: str = ""


def load(factory: SegmenterFactory) -> ModelInfo:
    """Load the model in the calling (executor) thread and warm it up."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A child process: Ctrl-C and systemd's SIGTERM reach the whole process group, but
        # stopping is the parent's decision (it finishes the job in hand, then closes us)...
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # ... and a parent killed outright (SIGKILL, OOM) must not leave us behind.
        threading.Thread(target=_exit_with, args=(parent,), name="parent", daemon=True).start()
    segmenter = factory()
    segmenter.warmup()
    _local.segmenter = segmenter
    return ModelInfo(segmenter.name, segmenter.backend, segmenter.device, segmenter.precision)


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent process is gone
    os._exit(0)


def compute(data: bytes, options: StickerOptions) -> JobResult:
    """Make a sticker with this thread's model; every failure becomes a JobResult."""
    from segmentation.pipeline import make_sticker  # heavy: numpy, skimage, CRF

    segmenter: Segmenter | None = getattr(_local, "segmenter", None)
    if segmenter is None:
        return JobResult(
            target=options.target,
            crf=options.crf,
            error=ErrorKind.INTERNAL,
            detail="no model loaded in this worker",
        )
    try:
        sticker = make_sticker(data, segmenter, options)
    except StickerError as exc:
        return JobResult(
            target=getattr(exc, "target", options.target),
            crf=options.crf,
            detected=dict(getattr(exc, "detected", {})),
            error=kind_of(exc),
            detail=str(exc),
        )
    except Exception as exc:
        # A bug or a model fault on this one photo: log it, tell this user, keep going.
        logger.exception("the pipeline failed on a %d-byte image", len(data))
        return JobResult(
            target=options.target, crf=options.crf, error=ErrorKind.INTERNAL, detail=repr(exc)
        )
    return JobResult(
        png=sticker.png,
        webp=sticker.webp,
        target=sticker.target,
        crf=sticker.crf,
        detected=dict(sticker.detected),
        timings_ms=dict(sticker.timings_ms),
    )


class Engine:
    """Async front of the inference executor (``isolate``: a child process, else a thread)."""

    def __init__(self, factory: SegmenterFactory, *, isolate: bool = False) -> None:
        self._factory = factory
        self._isolate = isolate
        self._executor = self._new_executor()
        self.info: ModelInfo | None = None

    @property
    def ready(self) -> bool:
        return self.info is not None

    def _new_executor(self) -> Executor:
        if self._isolate:
            # spawn, not fork: the parent runs threads (journal, event loop helpers) that a
            # forked child would inherit in whatever state they were.
            context = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(max_workers=1, mp_context=context)
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    async def load(self) -> ModelInfo:
        """Load and warm up the model; raises ModelUnavailable (or the loader's error)."""
        loop = asyncio.get_running_loop()
        self.info = await loop.run_in_executor(self._executor, load, self._factory)
        logger.info(
            "model %s ready (%s %s on %s, in a %s)",
            self.info.name,
            self.info.backend,
            self.info.precision,
            self.info.device,
            "child process" if self._isolate else "thread",
        )
        return self.info

    async def run(self, data: bytes, options: StickerOptions) -> JobResult:
        loop = asyncio.get_running_loop()
        if self._isolate and self.info is None:
            await self._restart()  # an earlier reload failed: try again
        try:
            return await loop.run_in_executor(self._executor, compute, data, options)
        except BrokenProcessPool:
            logger.error("the model process died on a %d-byte photo; starting it again", len(data))
            await self._restart()
            return JobResult(
                target=options.target,
                crf=options.crf,
                error=ErrorKind.INTERNAL,
                detail="the model process died",
            )

    async def _restart(self) -> None:
        self.info = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()
        try:
            await self.load()
        except Exception:
            # Not ready (/healthz says so); the next job tries again.
            logger.exception("the model could not be loaded again")

    def close(self) -> None:
        """Release the executor without waiting for a running computation."""
        self.info = None
        self._executor.shutdown(wait=False, cancel_futures=True)
