"""The single inference worker: a three-stage pipeline around the one model.

::

    queue ──> fetch (getFile + download) ──> ready (1 ahead) ──> compute (the model)
                                                                    │ spawn
                                                                    v
                                                      deliveries (send, edit, close job)

The next photo downloads while the model runs, and answers go out while the model runs on
the one after: with a full queue the model is never waiting on the network, so throughput
is ~1 / (model + post-processing). The queue is bounded; admission (``Journal.accept``)
counts unfinished jobs against ``QUEUE_MAX``, so a job that was accepted always fits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.delivery import Delivery
from bot.engine import Engine
from bot.jobs import Job, Journal
from bot.results import ErrorKind, JobResult
from bot.retry import RetryPolicy, with_retries
from bot.stats import Stats
from segmentation.options import (
    DEFAULT_OUTLINE_STYLE,
    OUTLINE_STYLES,
    ImageLimits,
    StickerOptions,
)

logger = logging.getLogger(__name__)

# Photos downloaded ahead of the model: one hides the download; more only costs memory
# (up to MAX_IMAGE_BYTES each).
PREFETCH = 1
# Telegram shows a chat action for 5 s (or until the next message): renew it while working.
CHAT_ACTION_REFRESH_S = 4.5
# Answers being sent at once; beyond it the model waits (Telegram is the bottleneck then,
# and finished PNGs should not pile up in memory).
MAX_DELIVERIES = 4


class FileTooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(f"file of {size or 'too many'} bytes")
        self.size = size


@dataclass(frozen=True, slots=True)
class Fetched:
    job: Job
    data: bytes


class Worker:
    def __init__(
        self,
        *,
        bot: Bot,
        journal: Journal,
        engine: Engine,
        delivery: Delivery,
        stats: Stats,
        queue_max: int,
        max_download_bytes: int,
        max_attempts: int,
        retry: RetryPolicy,
    ) -> None:
        self._bot = bot
        self._journal = journal
        self._engine = engine
        self._delivery = delivery
        self._stats = stats
        self._queue_max = queue_max
        self._max_bytes = max_download_bytes
        self._max_attempts = max_attempts
        self._retry = retry
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_max)
        self._ready: asyncio.Queue[Fetched] = asyncio.Queue(maxsize=PREFETCH)
        self._slots = asyncio.Semaphore(MAX_DELIVERIES)
        self._loops: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._computing = False
        self._stopping = False
        self._in_progress = 0
        # Set while no job is queued or in progress (tests and operators wait on it).
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> bool:
        return bool(self._loops) and not any(task.done() for task in self._loops)

    @property
    def stopping(self) -> bool:
        """True from the moment :meth:`stop` begins: no further job is taken."""
        return self._stopping

    @property
    def depth(self) -> int:
        """Jobs waiting in the queue."""
        return self._queue.qsize()

    @property
    def in_progress(self) -> int:
        """Jobs taken out of the queue (downloading, on the model, being answered)."""
        return self._in_progress

    async def start(self) -> None:
        """Take up the journal's unfinished jobs, then start the pipeline."""
        unfinished = await self._journal.unfinished()
        # Jobs accepted before a restart all fit, even if QUEUE_MAX was lowered meanwhile.
        self._queue = asyncio.Queue(maxsize=max(self._queue_max, len(unfinished)))
        for job in unfinished:
            self._idle.clear()
            if job.attempts >= self._max_attempts:
                logger.warning("job %d was taken up %d times: giving up", job.id, job.attempts)
                self._in_progress += 1
                self._finish_with(self._delivery.explain(job, ErrorKind.GAVE_UP))
            else:
                self._queue.put_nowait(job)
        if unfinished:
            logger.info("took up %d unfinished job(s) from the journal", len(unfinished))
        self._loops = [
            asyncio.create_task(self._fetch_loop(), name="worker-fetch"),
            asyncio.create_task(self._compute_loop(), name="worker-compute"),
        ]

    def submit(self, job: Job) -> bool:
        """Queue an accepted job; False if the queue is full (admission should prevent it)."""
        if self._stopping:
            return False
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return False
        self._idle.clear()
        return True

    async def wait_idle(self) -> None:
        """Until every job handed over so far is answered (its statistics recorded)."""
        await self._idle.wait()

    async def stop(self, grace_s: float) -> None:
        """Stop taking jobs; let the one being computed (and its answer) finish for up to
        ``grace_s`` seconds; whatever is left stays in the journal for the next start."""
        self._stopping = True
        if not self._loops:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        fetch, compute = self._loops
        fetch.cancel()
        if not self._computing:
            compute.cancel()
        # The compute loop ends after its current job, having spawned that job's answer.
        await asyncio.wait([compute], timeout=max(0.0, deadline - loop.time()))
        compute.cancel()
        late: set[asyncio.Task[None]] = set()
        if self._background:
            _, late = await asyncio.wait(
                set(self._background), timeout=max(0.0, deadline - loop.time())
            )
        for task in late:
            task.cancel()
        if late:
            logger.warning(
                "%d answer(s) unfinished after %.1f s; left in the journal", len(late), grace_s
            )
        await asyncio.gather(*self._loops, *self._background, return_exceptions=True)
        self._loops = []

    # --- stages -------------------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        while True:
            job = await self._queue.get()
            self._in_progress += 1
            started = time.perf_counter()
            try:
                data = await self._download(job)
            except FileTooLarge as exc:
                logger.info("job %d: refused a %s", job.id, exc)
                self._finish_with(self._delivery.explain(job, ErrorKind.TOO_LARGE))
                continue
            except TelegramError as exc:
                logger.warning("job %d: could not download the photo: %s", job.id, exc)
                self._finish_with(self._delivery.explain(job, ErrorKind.DOWNLOAD_FAILED))
                continue
            except Exception:
                logger.exception("job %d: fetching failed", job.id)
                self._finish_with(self._delivery.explain(job, ErrorKind.INTERNAL))
                continue
            self._stats.observe("download", (time.perf_counter() - started) * 1000)
            await self._ready.put(Fetched(job, data))

    async def _download(self, job: Job) -> bytes:
        what = f"downloading the photo of job {job.id}"
        try:
            file = await with_retries(lambda: self._bot.get_file(job.file_id), self._retry, what)
        except BadRequest as exc:
            # A file whose size the message did not declare, above Telegram's bot limit.
            if "too big" in exc.message.lower():
                raise FileTooLarge(None) from exc
            raise
        if file.file_size is not None and file.file_size > self._max_bytes:
            raise FileTooLarge(file.file_size)
        if not (file.file_path or "").startswith(f"{self._bot.base_file_url}/"):
            # PTB leaves a file_path that names an existing local file as it is and reads that
            # file from our disk (meant for local Bot API servers; we run none): whatever
            # getFile answers, the bot never reads a local file as a user's photo.
            raise TelegramError(f"getFile gave job {job.id} no download URL; not reading it")
        data = bytes(await with_retries(file.download_as_bytearray, self._retry, what))
        if len(data) > self._max_bytes:
            raise FileTooLarge(len(data))
        return data

    async def _compute_loop(self) -> None:
        while not self._stopping:
            fetched = await self._ready.get()
            self._computing = True
            try:
                try:
                    result = await self._compute(fetched)
                except Exception as exc:  # the loop must outlive any one job
                    logger.exception("job %d: computing failed", fetched.job.id)
                    result = JobResult(error=ErrorKind.INTERNAL, detail=repr(exc))
                await self._slots.acquire()
            finally:
                self._computing = False
            self._finish_with(self._deliver(fetched.job, result), slot=True)

    async def _compute(self, fetched: Fetched) -> JobResult:
        job = fetched.job
        await self._journal.mark_running(job.id)
        self._stats.observe("queue", max(0.0, time.time() - job.created_at) * 1000)
        options = StickerOptions(
            target=job.target,
            crf=job.crf,
            outline=OUTLINE_STYLES.get(job.style, OUTLINE_STYLES[DEFAULT_OUTLINE_STYLE]),
            limits=ImageLimits(max_bytes=self._max_bytes),
        )
        action = asyncio.create_task(self._show_working(job))
        try:
            result = await self._engine.run(fetched.data, options)
        finally:
            action.cancel()
        self._stats.observe_pipeline(result.timings_ms)
        logger.info("job %d: %s", job.id, result.target if result.ok else result.error)
        return result

    async def _show_working(self, job: Job) -> None:
        while True:
            await self._delivery.chat_action(job)
            await asyncio.sleep(CHAT_ACTION_REFRESH_S)

    async def _deliver(self, job: Job, result: JobResult) -> None:
        started = time.perf_counter()
        await self._delivery.answer(job, result)
        self._stats.observe("send", (time.perf_counter() - started) * 1000)
        self._stats.observe("end_to_end", max(0.0, time.time() - job.created_at) * 1000)

    # --- background tasks ---------------------------------------------------------------------

    def _finish_with(self, answer: Coroutine[Any, Any, None], *, slot: bool = False) -> None:
        """Run the answer of a job taken from the queue; it leaves ``in_progress`` after."""

        async def run() -> None:
            try:
                await answer
            finally:
                self._in_progress -= 1
                if slot:
                    self._slots.release()
                if self._in_progress == 0 and self._queue.empty():
                    self._idle.set()

        self._spawn(run())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._logged(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _logged(coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            # The job stays unfinished in the journal and is taken up again after a restart.
            logger.exception("a job's answer failed")
