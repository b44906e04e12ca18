"""The job queue seam: how accepted jobs reach a worker and their results come back.

:class:`JobQueue` is what a worker's :class:`~bot.runner.Runner` sees: it *claims* a job on
a lease, *renews* the lease while it works, and *completes* it with a result (or *fails*
it with an :class:`~bot.results.ErrorKind`, or *releases* it unstarted when it stops). A
lease that runs out -- the worker died or hangs -- hands the job out again, and the attempt
counts. :class:`ResultSource` is the bot's side: results to deliver, each acknowledged
once it is recorded. The job id is the key everywhere: a job handed out twice, or a result
that arrives twice, never makes a second reply (the journal says the job is finished).

Two implementations:

* :mod:`bot.queue.local` (the default, ``QUEUE_URL`` unset): the SQLite journal itself is the
  queue; one process, no server;
* :mod:`bot.queue.redis` (``QUEUE_URL=redis://...``): Redis Streams between the bot and
  ``stickerbot worker`` processes on any machine.

Only plain data crosses: :class:`~bot.jobs.Job`, the photo's bytes, a
:class:`~bot.results.JobResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.jobs import Job
from bot.results import ErrorKind, JobResult


@dataclass(frozen=True, slots=True)
class Claim:
    """A job leased to a worker."""

    job: Job
    # Times the job has been handed out, this one included.
    attempt: int
    # The photo, when it travelled with the job (Redis); None: the worker downloads it.
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """A job's result, for the bot to deliver."""

    job_id: int
    result: JobResult


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """A worker as its last heartbeat described it (``/stats``, ``/metrics``)."""

    name: str
    alive: bool
    # Seconds since its last heartbeat.
    last_seen_s: float
    done: int
    redelivered: int
    model: str = ""


class JobQueue(Protocol):
    """The worker's side of the queue."""

    async def submit(self, job: Job) -> None:
        """Make an accepted (journaled) job available to workers."""

    async def claim(self, worker: str, lease_s: float) -> Claim | None:
        """The next job, leased to ``worker`` for ``lease_s`` seconds; None when none came
        within a short wait (the caller loops)."""

    async def renew(self, job_id: int, worker: str, lease_s: float) -> bool:
        """Extend the lease; False when the job is no longer ``worker``'s."""

    async def complete(self, job_id: int, result: JobResult) -> None:
        """The job's result (a sticker or an error found computing it)."""

    async def fail(self, job_id: int, error: ErrorKind, detail: str = "") -> None:
        """The job cannot be computed (download failed, too many attempts...)."""

    async def release(self, job_id: int, worker: str) -> None:
        """Give a claimed job back unstarted: no attempt counted."""


class ResultSource(Protocol):
    """The bot's side: results to deliver."""

    async def next_result(self) -> Finished:
        """The next result (waits for one)."""

    async def delivered(self, job_id: int) -> None:
        """The job's answer is recorded in the journal: the result is no longer needed."""


def failure(job: Job | int, error: ErrorKind, detail: str = "") -> Finished:
    """The :class:`Finished` of a job that could not be computed."""
    job_id = job if isinstance(job, int) else job.id
    return Finished(job_id, JobResult(error=error, detail=detail))
