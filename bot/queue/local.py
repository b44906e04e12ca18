"""The embedded queue: the SQLite journal is the queue (``QUEUE_URL`` unset).

Claiming is one ``UPDATE ... RETURNING`` in the journal (oldest claimable job first: queued,
or running on a lease that ran out), so the journal alone says what is waiting, what is
taken and by whom -- nothing is kept beside it. A completed result is handed to the bot's
deliverer in memory (the journal never holds image bytes) and its job *held* until the
answer is out; if the process dies first, the next start lets every lease run out and the
job is computed again (its attempt counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.jobs import Job
from bot.journal import Journal
from bot.queue import Claim, Finished, WorkerStatus, failure
from bot.results import ErrorKind, JobResult

# Longest a claim waits for a job before returning None (the runner then checks for a stop).
CLAIM_WAIT_S = 1.0
# Results waiting for a free deliverer; beyond it the model waits (finished PNGs should not
# pile up in memory while Telegram is the bottleneck).
RESULTS_BUFFER = 1


class LocalQueue:
    """:class:`~bot.queue.JobQueue` and :class:`~bot.queue.ResultSource` over the journal."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._work = asyncio.Event()
        self._results: asyncio.Queue[Finished] = asyncio.Queue(maxsize=RESULTS_BUFFER)

    async def start(self) -> int:
        """Every lease runs out now: the process that held them is gone (we restarted)."""
        expired = await self._journal.call(self._journal.jobs.expire_leases)
        self._work.set()
        return expired

    async def stop(self) -> None:
        """Nothing to close: the journal is the bot's."""

    @property
    def running(self) -> bool:
        return True

    async def workers(self) -> list[WorkerStatus]:
        """None beside the bot's own runner (its model is in /stats already)."""
        return []

    async def in_flight(self) -> int | None:
        return None

    def pending(self) -> int:
        """Results handed over and not yet taken by a deliverer."""
        return self._results.qsize()

    async def submit(self, job: Job) -> None:
        self._work.set()

    async def claim(self, worker: str, lease_s: float) -> Claim | None:
        self._work.clear()
        job = await self._journal.claim(worker, lease_s)
        if job is None:
            # Nothing claimable: wait for a submit, or for the next lease to run out.
            expiry = await self._journal.call(self._journal.jobs.next_expiry)
            wait = CLAIM_WAIT_S if expiry is None else min(CLAIM_WAIT_S, expiry - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), max(0.0, wait))
            return None
        return Claim(job, job.attempts)

    async def renew(self, job_id: int, worker: str, lease_s: float) -> bool:
        return await self._journal.call(self._journal.jobs.renew, job_id, worker, lease_s)

    async def complete(self, job_id: int, result: JobResult) -> None:
        await self._journal.call(self._journal.jobs.hold, job_id)
        await self._results.put(Finished(job_id, result))

    async def fail(self, job_id: int, error: ErrorKind, detail: str = "") -> None:
        await self.complete(job_id, failure(job_id, error, detail).result)

    async def release(self, job_id: int, worker: str) -> None:
        await self._journal.call(self._journal.jobs.release, job_id, worker)
        self._work.set()

    async def next_result(self) -> Finished:
        return await self._results.get()

    async def delivered(self, job_id: int) -> None:
        """Nothing to do: delivering finished the job in the journal."""
