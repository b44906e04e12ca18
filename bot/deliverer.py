"""The deliverer: results from the queue -> the user's answer -> the journal, exactly once.

A result is delivered only while its job is unfinished in the journal; a second result for
the same job (a job handed out again after its lease ran out, a result redelivered after a
restart) finds it finished and is acknowledged without a word to the user.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.delivery import Delivery
from bot.jobs import JobState
from bot.journal import Journal
from bot.queue import Finished, ResultSource
from bot.stats import Stats

logger = logging.getLogger(__name__)

# Answers being sent at once; beyond it results wait (Telegram is the bottleneck then).
MAX_DELIVERIES = 4


class Deliverer:
    def __init__(
        self,
        results: ResultSource,
        journal: Journal,
        delivery: Delivery,
        stats: Stats,
        *,
        concurrency: int = MAX_DELIVERIES,
    ) -> None:
        self._results = results
        self._journal = journal
        self._delivery = delivery
        self._stats = stats
        self._concurrency = concurrency
        self._loops: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None] | None] = set()
        self._stopping = False
        # Pulsed after every delivered job (wait_idle listens).
        self.changed = asyncio.Condition()

    @property
    def running(self) -> bool:
        return bool(self._loops) and not any(task.done() for task in self._loops)

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._loop(), name=f"deliver-{i}") for i in range(self._concurrency)
        ]

    async def stop(self, grace_s: float) -> None:
        """Answers being sent finish for up to ``grace_s``; the rest stays in the journal."""
        self._stopping = True
        for task in self._loops:
            if task not in self._busy:
                task.cancel()
        if self._loops:
            _, late = await asyncio.wait(self._loops, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                logger.warning(
                    "%d answer(s) unfinished after %.1f s; left in the journal", len(late), grace_s
                )
            await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []

    async def _loop(self) -> None:
        me = asyncio.current_task()
        while not self._stopping:
            finished = await self._results.next_result()
            self._busy.add(me)
            try:
                await self._deliver(finished)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The job stays unfinished in the journal and is taken up again later.
                logger.exception("the answer of job %d failed", finished.job_id)
            finally:
                self._busy.discard(me)
            async with self.changed:
                self.changed.notify_all()

    async def _deliver(self, finished: Finished) -> None:
        job = await self._journal.get(finished.job_id)
        if job is None or job.state in (JobState.DONE, JobState.FAILED):
            logger.info("job %d: already answered; a second result ignored", finished.job_id)
        else:
            started = time.perf_counter()
            await self._delivery.answer(job, finished.result)
            self._stats.observe("send", (time.perf_counter() - started) * 1000)
            self._stats.observe("end_to_end", max(0.0, time.time() - job.created_at) * 1000)
        await self._results.delivered(finished.job_id)
