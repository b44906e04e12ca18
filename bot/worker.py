"""The bot's side of the job queue: accepted jobs go in, answers come out.

::

    intake ──submit──> queue ──claim──> runner (claim, fetch, compute)   [embedded only]
                         ^                  │ complete
                         │                  v
                       journal <──────── deliverer (send, edit, close job)

With ``QUEUE_URL`` unset the queue is the journal itself and a :class:`~bot.runner.Runner`
runs in this process (the model in its child process). With ``QUEUE_URL=redis://...`` the
runners are ``stickerbot worker`` processes elsewhere; this process only dispatches jobs to
Redis and delivers the results. Either way the journal alone says what is waiting, running
or finished: :meth:`Worker.counts` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.deliverer import Deliverer
from bot.jobs import Counts, Job
from bot.journal import Journal
from bot.queue import ResultSource, WorkerStatus
from bot.runner import Runner

logger = logging.getLogger(__name__)

# wait_idle looks at the journal again at least this often (a pulse may come before the wait).
IDLE_POLL_S = 0.2
PENDING_POLL_S = 0.01


class BotQueue(ResultSource, Protocol):
    """A queue as the bot process holds it: jobs in, results out, and a lifecycle."""

    async def submit(self, job: Job) -> None:
        """Make an accepted (journaled) job available to workers."""

    async def start(self) -> int:
        """Connect; returns how many jobs were found in flight."""

    async def stop(self) -> None: ...

    @property
    def running(self) -> bool: ...

    def pending(self) -> int:
        """Results held in this process, not yet taken by a deliverer."""

    async def workers(self) -> list[WorkerStatus]:
        """The workers computing for this queue, as their heartbeats tell."""

    async def in_flight(self) -> int | None:
        """Jobs handed to a remote queue and not yet answered (None: no remote queue)."""


class Worker:
    def __init__(
        self, journal: Journal, queue: BotQueue, deliverer: Deliverer, runner: Runner | None
    ) -> None:
        self.queue = queue
        self.runner = runner
        self._journal = journal
        self._deliverer = deliverer
        self._stopping = False
        self._started = False

    @property
    def running(self) -> bool:
        runner_ok = self.runner is None or self.runner.running
        return self._started and runner_ok and self._deliverer.running and self.queue.running

    @property
    def stopping(self) -> bool:
        """True from the moment :meth:`stop` begins: no further job is taken."""
        return self._stopping

    async def start(self) -> None:
        """Take up the journal's unfinished jobs, then start the pipeline."""
        found = await self.queue.start()
        if found:
            logger.info("took up %d unfinished job(s) from the journal", found)
        if self.runner is not None:
            self.runner.start()
        self._deliverer.start()
        self._started = True

    async def submit(self, job: Job) -> bool:
        """Hand an accepted job to the queue; False while stopping (it stays journaled)."""
        if self._stopping:
            return False
        await self.queue.submit(job)
        return True

    async def counts(self) -> Counts:
        return await self._journal.counts()

    async def wait_idle(self) -> None:
        """Until every job accepted so far is answered."""
        changed = self._deliverer.changed
        while True:
            counts = await self._journal.counts()
            if counts.queued + counts.running == 0:
                return
            async with changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), IDLE_POLL_S)

    async def stop(self, grace_s: float) -> None:
        """Stop taking jobs; the jobs on the model finish and are answered within
        ``grace_s``; whatever is left stays in the journal for the next start."""
        self._stopping = True
        if not self._started:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        if self.runner is not None:
            await self.runner.stop(grace_s)
        # Results already computed are answered (a deliverer takes each) before stopping.
        while self.queue.pending() and loop.time() < deadline:  # noqa: ASYNC110 - a hand-over
            await asyncio.sleep(PENDING_POLL_S)
        await self._deliverer.stop(max(0.0, deadline - loop.time()))
        await self.queue.stop()
        self._started = False
