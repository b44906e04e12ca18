"""The bot's side of the Redis queue: journal -> Redis (bounded), results -> deliverer.

The dispatcher claims the journal's oldest queued job on a long lease (owner ``redis``),
downloads its photo -- here, in the bot: the token never leaves this process and a worker
needs nothing but Redis -- and puts job and photo on the jobs stream. At most ``in_flight``
jobs are in Redis at once; the backlog waits, queued, in the journal. A reconciler renews the
journal lease of every job Redis still holds (``{prefix}:inflight``); a job Redis lost (its
data wiped) runs out of lease and is dispatched again.

Results are read from the results stream by the consumer group ``bots``, delivered, and
acknowledged (and deleted) only after the journal recorded the answer: a crash in between
reads them again (this consumer's pending entries first). A result for a finished job is
acknowledged without a word (:mod:`bot.deliverer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.exceptions import RedisError

from bot.fetch import FetchFailed
from bot.jobs import Job
from bot.journal import Journal
from bot.queue import Finished, WorkerStatus
from bot.queue.streams import (
    BLOCK_MS,
    BOTS_GROUP,
    UNAVAILABLE,
    WORKERS_GROUP,
    Keys,
    connect,
    ensure_group,
    entries,
    lost_group,
    pause,
    worker_statuses,
)
from bot.queue.wire import MalformedEntry, decode_result, encode_job, encode_result
from bot.results import ErrorKind, JobResult
from bot.runner import Fetch

logger = logging.getLogger(__name__)

# The journal's name for "leased to Redis".
OWNER = "redis"
# A dispatched job's journal lease, in leases: long enough to wait for a worker, renewed
# while Redis holds the job; it runs out only for a job Redis lost.
DISPATCH_LEASES = 10
# Seconds between reconciliations (journal leases renewed from {prefix}:inflight).
RECONCILE_EVERY_S = 2.0
# A worker is shown alive while its last heartbeat (3 a lease) is this many leases old at most.
ALIVE_LEASES = 2
# The bot's consumer name in the results group (one bot process per journal).
CONSUMER = "bot"


class RedisDispatch:
    def __init__(
        self,
        url: str,
        journal: Journal,
        fetch: Fetch,
        *,
        in_flight: int,
        lease_s: float,
        max_attempts: int,
        keys: Keys | None = None,
    ) -> None:
        self.keys = keys or Keys.of()
        self._url = url
        self.client: Any = None
        self._journal = journal
        self._fetch = fetch
        self._in_flight = in_flight
        self._lease_s = lease_s
        self._dispatch_lease_s = lease_s * DISPATCH_LEASES
        self._max_attempts = max_attempts
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Result entries read and not yet acknowledged: job id -> entry ids.
        self._unacked: dict[int, list[bytes]] = {}
        # Read our own pending results first (read before a crash, never acknowledged).
        self._backlog = True
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> int:
        self.client = connect(self._url)
        while True:
            try:
                await ensure_group(self.client, self.keys.jobs, WORKERS_GROUP)
                await ensure_group(self.client, self.keys.results, BOTS_GROUP)
                found = await self._reconcile(at_start=True)
                break
            except UNAVAILABLE as exc:
                await pause("starting", exc)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="redis-dispatch"),
            asyncio.create_task(self._reconcile_loop(), name="redis-reconcile"),
        ]
        self._work.set()
        return found

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    def pending(self) -> int:
        return 0  # results wait in Redis, not here

    async def submit(self, job: Job) -> None:
        self._work.set()

    async def workers(self) -> list[WorkerStatus]:
        try:
            raw = await self.client.hgetall(self.keys.workers)
        except UNAVAILABLE:
            return []
        return worker_statuses(raw, alive_within_s=self._lease_s * ALIVE_LEASES)

    async def in_flight(self) -> int | None:
        """Jobs in Redis now (as job or as result); None while Redis is unreachable."""
        try:
            return int(await self.client.hlen(self.keys.inflight))
        except UNAVAILABLE:
            return None

    # --- dispatching --------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._work.clear()
            try:
                dispatched = await self._dispatch_one()
            except UNAVAILABLE as exc:
                await pause("dispatching", exc)
                continue
            if not dispatched:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), RECONCILE_EVERY_S)

    async def _dispatch_one(self) -> bool:
        """Move the oldest queued job to Redis, if there is room; False if none moved."""
        if await self.client.hlen(self.keys.inflight) >= self._in_flight:
            return False
        job = await self._journal.claim(OWNER, self._dispatch_lease_s)
        if job is None:
            return False
        if job.attempts > self._max_attempts:
            logger.warning("job %d was dispatched %d times: giving up", job.id, job.attempts)
            await self._post_result(job.id, JobResult(error=ErrorKind.GAVE_UP))
            return True
        try:
            photo = await self._fetch(job)
        except FetchFailed as exc:
            await self._post_result(job.id, JobResult(error=exc.kind, detail=str(exc)))
            return True
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.keys.jobs, encode_job(job, photo))
                entry_id, *_ = await pipe.execute()
            await self.client.hset(self.keys.inflight, str(job.id), entry_id)
        except UNAVAILABLE:
            # Back to the journal unstarted; dispatched again once Redis is back.
            await self._journal.call(self._journal.jobs.release, job.id, OWNER)
            raise
        logger.info("job %d dispatched (%d bytes of photo)", job.id, len(photo))
        return True

    async def _post_result(self, job_id: int, result: JobResult) -> None:
        """A job that never reaches a worker still answers through the results stream."""
        await self.client.xadd(self.keys.results, encode_result(job_id, result, worker="bot"))

    async def _reconcile_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RECONCILE_EVERY_S)
            try:
                await self._reconcile()
            except UNAVAILABLE as exc:
                logger.warning("redis unavailable while reconciling: %s", exc)

    async def _reconcile(self, *, at_start: bool = False) -> int:
        """Renew the journal lease of every job Redis holds; at start, a job leased to Redis
        that Redis does not hold (lost between the journal's claim and XADD) goes back now."""
        held = {int(k) for k in await self.client.hkeys(self.keys.inflight)}
        jobs = self._journal.jobs
        mine = [j for j in await self._journal.unfinished() if j.state == "running"]
        for job in mine:
            if job.id in held:
                await self._journal.call(jobs.renew, job.id, OWNER, self._dispatch_lease_s)
            elif at_start:  # whoever held it (the embedded queue too) is gone
                await self._journal.call(jobs.expire_leases, job.id)
        return len(mine)

    # --- results ------------------------------------------------------------------------------

    async def next_result(self) -> Finished:
        while True:
            if self._stopping:
                raise asyncio.CancelledError
            try:
                found = await self._read_results()
            except UNAVAILABLE as exc:
                # Redis may have handed us entries whose reply the broken connection lost:
                # they wait in our pending list, read again (first) once it is back.
                self._backlog = True
                await pause("reading results", exc)
                continue
            except RedisError as exc:
                if not lost_group(exc):
                    raise
                await ensure_group(self.client, self.keys.results, BOTS_GROUP)
                continue
            for entry_id, fields in found:
                try:
                    job_id, result = decode_result(fields)
                except MalformedEntry as exc:
                    logger.error("skipping malformed result entry %s: %s", entry_id, exc)
                    await self._ack([entry_id])
                    continue
                self._unacked.setdefault(job_id, []).append(entry_id)
                return Finished(job_id, result)

    async def _read_results(self) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        if self._backlog:
            reply = await self.client.xreadgroup(BOTS_GROUP, CONSUMER, {self.keys.results: "0"})
            found = [
                (eid, fields)
                for eid, fields in entries(reply)
                if not any(eid in ids for ids in self._unacked.values())
            ]
            if found:
                return found
            self._backlog = False
        reply = await self.client.xreadgroup(
            BOTS_GROUP, CONSUMER, {self.keys.results: ">"}, count=1, block=BLOCK_MS
        )
        return entries(reply)

    async def delivered(self, job_id: int) -> None:
        """Acknowledge and delete the job's results; Redis no longer holds the job."""
        ids = self._unacked.pop(job_id, [])
        while True:
            try:
                await self._ack(ids, job_id)
                self._work.set()  # room in Redis for the next job
                return
            except UNAVAILABLE as exc:
                await pause(f"acknowledging the result of job {job_id}", exc)

    async def _ack(self, ids: list[bytes], job_id: int | None = None) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            if ids:
                pipe.xack(self.keys.results, BOTS_GROUP, *ids)
                pipe.xdel(self.keys.results, *ids)
            if job_id is not None:
                pipe.hdel(self.keys.inflight, str(job_id))
            await pipe.execute()
