"""The runner: claim -> fetch -> compute, on a lease, for one worker (in the bot or not).

::

    queue.claim ──> fetch (unless the photo came with the job) ──> ready ──> compute ×N
         ^                                                                      │
         └── heartbeat: renew the lease of every job held ──────────────── queue.complete

The next photo is claimed and fetched while the model runs, so the model never waits on the
network. The runner keeps no job state of its own beyond the claims in its hands: what is
waiting, taken or finished is the queue's (the journal's, or Redis's) to say. A job taken up
more than ``max_attempts`` times fails as :attr:`~bot.results.ErrorKind.GAVE_UP` without
being computed again. On :meth:`stop` the jobs on the model finish (within the grace); the
claimed ones not started yet are released unstarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.fetch import FetchFailed
from bot.jobs import Job
from bot.queue import Claim, JobQueue
from bot.results import ErrorKind, JobResult
from bot.stats import Stats
from segmentation.options import (
    DEFAULT_OUTLINE_STYLE,
    OUTLINE_STYLES,
    ImageLimits,
    StickerOptions,
    ZoomOptions,
)

logger = logging.getLogger(__name__)

# Photos fetched ahead of the model: one hides the download; more only costs memory.
PREFETCH = 1
# Leases are renewed this many times per lease period (a missed beat or two is no loss).
BEATS_PER_LEASE = 3
# Longest a stop waits for a claim in flight to come back (the queues wait at most ~1 s).
CLAIM_RETURN_S = 3.0
# A job held longer than this many leases is no longer renewed: a model that hangs in a live
# worker lets the job go to another worker, as a dead one does.
MAX_HOLD_LEASES = 20
# Telegram shows a chat action for 5 s (or until the next message): renew it while working.
CHAT_ACTION_REFRESH_S = 4.5

Compute = Callable[[bytes, StickerOptions], Awaitable[JobResult]]
Fetch = Callable[[Job], Awaitable[bytes]]
Working = Callable[[Job], Awaitable[None]]


@dataclass
class RunnerCounters:
    """What this runner did since it started (shown by heartbeats)."""

    done: int = 0
    redelivered: int = 0
    gave_up: int = 0
    # Jobs that reached the model and are not settled: a stop never releases these.
    computing: set[int] = field(default_factory=set)


class Runner:
    def __init__(
        self,
        queue: JobQueue,
        compute: Compute,
        *,
        name: str,
        lease_s: float,
        max_attempts: int,
        max_bytes: int,
        fetch: Fetch | None = None,
        concurrency: int = 1,
        stats: Stats | None = None,
        working: Working | None = None,
        zoom: ZoomOptions | None = None,
    ) -> None:
        self.name = name
        # The object zoom pass every job gets (the MODEL_ZOOM setting).
        self._zoom = zoom or ZoomOptions()
        self.counters = RunnerCounters()
        self._queue = queue
        self._compute = compute
        self._fetch = fetch
        self._lease_s = lease_s
        self._max_attempts = max_attempts
        self._max_bytes = max_bytes
        self._concurrency = concurrency
        self._stats = stats
        self._working = working
        self._ready: asyncio.Queue[tuple[Claim, bytes]] = asyncio.Queue(maxsize=PREFETCH)
        # Claims in hand (fetching, ready, computing): their leases are renewed.
        self._held: dict[int, Claim] = {}
        self._held_since: dict[int, float] = {}
        self._busy: set[asyncio.Task[None] | None] = set()
        self._claiming = False
        self._stopping = False
        self._feeder: asyncio.Task[None] | None = None
        self._computers: list[asyncio.Task[None]] = []
        self._heart: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        tasks = [self._feeder, *self._computers]
        return self._feeder is not None and not any(t is None or t.done() for t in tasks)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        self._feeder = asyncio.create_task(self._feed(), name=f"{self.name}-claim")
        self._computers = [
            asyncio.create_task(self._run(), name=f"{self.name}-compute-{i}")
            for i in range(self._concurrency)
        ]
        self._heart = asyncio.create_task(self._heartbeat(), name=f"{self.name}-lease")

    async def stop(self, grace_s: float) -> None:
        """Take no more jobs; let those on the model finish for up to ``grace_s`` seconds;
        give back the claimed ones not started."""
        self._stopping = True
        if self._feeder is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        # A claim in flight is not cut off (its job would stay leased): it returns within
        # the queue's short wait, and the feeder then stops on its own.
        if self._claiming:
            await asyncio.wait([self._feeder], timeout=CLAIM_RETURN_S)
        self._feeder.cancel()
        for task in self._computers:
            if task not in self._busy:
                task.cancel()
        await asyncio.wait(
            [self._feeder, *self._computers], timeout=max(0.0, deadline - loop.time())
        )
        for task in (self._feeder, *self._computers):
            task.cancel()
        await asyncio.gather(self._feeder, *self._computers, return_exceptions=True)
        if self._heart is not None:
            self._heart.cancel()
            await asyncio.gather(self._heart, return_exceptions=True)
        unstarted = [c for c in self._held.values() if c.job.id not in self.counters.computing]
        for claim in unstarted:
            await self._queue.release(claim.job.id, self.name)
        if unstarted:
            logger.info("%s: released %d job(s) not started", self.name, len(unstarted))
        self._held.clear()
        self._held_since.clear()

    # --- stages -------------------------------------------------------------------------------

    async def _feed(self) -> None:
        while not self._stopping:
            self._claiming = True
            try:
                claim = await self._queue.claim(self.name, self._lease_s)
            finally:
                self._claiming = False
            if claim is None:
                continue
            job = claim.job
            self._held[job.id] = claim
            self._held_since[job.id] = time.monotonic()
            if self.stopping:
                return  # stop() releases it
            if claim.attempt > 1:
                self.counters.redelivered += 1
            if claim.attempt > self._max_attempts:
                logger.warning("job %d was taken up %d times: giving up", job.id, claim.attempt)
                self.counters.gave_up += 1
                await self._settle(job.id, None, ErrorKind.GAVE_UP)
                continue
            data = await self._fetched(claim)
            if data is not None:
                await self._ready.put((claim, data))

    async def _fetched(self, claim: Claim) -> bytes | None:
        """The photo (downloading it if it did not come with the job); None if it failed."""
        if claim.data is not None:
            if len(claim.data) > self._max_bytes:
                await self._settle(claim.job.id, None, ErrorKind.TOO_LARGE)
                return None
            return claim.data
        if self._fetch is None:
            await self._settle(claim.job.id, None, ErrorKind.INTERNAL, "no photo and no fetch")
            return None
        started = time.perf_counter()
        try:
            data = await self._fetch(claim.job)
        except FetchFailed as exc:
            await self._settle(claim.job.id, None, exc.kind, str(exc))
            return None
        except Exception as exc:
            logger.exception("job %d: fetching failed", claim.job.id)
            await self._settle(claim.job.id, None, ErrorKind.INTERNAL, repr(exc))
            return None
        self._observe("download", (time.perf_counter() - started) * 1000)
        return data

    async def _run(self) -> None:
        while not self._stopping:
            claim, data = await self._ready.get()
            job = claim.job
            me = asyncio.current_task()
            self.counters.computing.add(job.id)
            self._busy.add(me)
            try:
                try:
                    result = await self._computed(job, data)
                except Exception as exc:  # the loop must outlive any one job
                    logger.exception("job %d: computing failed", job.id)
                    result = JobResult(error=ErrorKind.INTERNAL, detail=repr(exc))
                await self._settle(job.id, result)
            finally:
                self._busy.discard(me)

    async def _computed(self, job: Job, data: bytes) -> JobResult:
        self._observe("queue", max(0.0, time.time() - job.created_at) * 1000)
        options = StickerOptions(
            target=job.target,
            crf=job.crf,
            outline=OUTLINE_STYLES.get(job.style, OUTLINE_STYLES[DEFAULT_OUTLINE_STYLE]),
            limits=ImageLimits(max_bytes=self._max_bytes),
            zoom=self._zoom,
        )
        action = None
        if self._working is not None:
            action = asyncio.create_task(self._show_working(self._working, job))
        try:
            result = await self._compute(data, options)
        finally:
            if action is not None:
                action.cancel()
        if self._stats is not None:
            self._stats.observe_pipeline(result.timings_ms)
        logger.info("job %d: %s", job.id, result.target if result.ok else result.error)
        return result

    async def _settle(
        self,
        job_id: int,
        result: JobResult | None,
        error: ErrorKind | None = None,
        detail: str = "",
    ) -> None:
        """Hand the result (or the failure) to the queue; the claim leaves our hands."""
        if result is not None:
            await self._queue.complete(job_id, result)
            self.counters.done += 1
        else:
            await self._queue.fail(job_id, error or ErrorKind.INTERNAL, detail)
        self._held.pop(job_id, None)
        self._held_since.pop(job_id, None)
        self.counters.computing.discard(job_id)

    @staticmethod
    async def _show_working(working: Working, job: Job) -> None:
        while True:
            await working(job)
            await asyncio.sleep(CHAT_ACTION_REFRESH_S)

    async def _heartbeat(self) -> None:
        """Renew the lease of every job in hand, ``BEATS_PER_LEASE`` times per lease."""
        while True:
            await asyncio.sleep(self._lease_s / BEATS_PER_LEASE)
            limit = self._lease_s * MAX_HOLD_LEASES
            for job_id, since in list(self._held_since.items()):
                if time.monotonic() - since > limit:
                    logger.warning(
                        "%s: job %d held over %.0f s (a hung model?): letting its lease run out",
                        self.name,
                        job_id,
                        limit,
                    )
                    continue
                with contextlib.suppress(Exception):
                    if not await self._queue.renew(job_id, self.name, self._lease_s):
                        logger.warning("%s: lost the lease of job %d", self.name, job_id)

    def _observe(self, stage: str, ms: float) -> None:
        if self._stats is not None:
            self._stats.observe(stage, ms)
