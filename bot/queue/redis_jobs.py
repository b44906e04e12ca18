"""The worker's side of the Redis queue (:class:`~bot.queue.JobQueue` over Redis Streams).

A claim first takes over an entry another worker has held past its lease (``XAUTOCLAIM``:
the worker died, hangs, or its machine is gone), else reads a new one (``XREADGROUP``). The
attempt is the bot's dispatches plus Redis's delivery count, so a job that keeps killing
workers ends as "told the user it failed" after ``MAX_ATTEMPTS``. A result goes to the
results stream, and the job is acknowledged and deleted, in one transaction: a job is never
acknowledged before its result is stored. A malformed entry is logged, acknowledged and
dropped -- never a crash.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from bot.jobs import Job
from bot.queue import Claim, failure
from bot.queue.streams import (
    BLOCK_MS,
    UNAVAILABLE,
    WORKERS_GROUP,
    Keys,
    connect,
    ensure_group,
    entries,
    lost_group,
    pause,
)
from bot.queue.wire import MalformedEntry, decode_job, encode_job, encode_result
from bot.results import ErrorKind, JobResult

logger = logging.getLogger(__name__)


class RedisQueue:
    def __init__(self, url: str, *, keys: Keys | None = None, client: Any = None) -> None:
        self.keys = keys or Keys.of()
        self.client = client if client is not None else connect(url)
        # Our claims: job id -> (entry id, worker).
        self._entries: dict[int, tuple[bytes, str]] = {}
        self.redelivered = 0

    async def start(self) -> None:
        await ensure_group(self.client, self.keys.jobs, WORKERS_GROUP)

    async def close(self) -> None:
        await self.client.aclose()

    async def submit(self, job: Job, photo: bytes = b"") -> None:
        """Put a job (with its photo) on the stream; the bot's dispatcher does this."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.jobs, encode_job(job, photo))
            await pipe.execute()

    async def claim(self, worker: str, lease_s: float) -> Claim | None:
        try:
            return await self._claim(worker, lease_s)
        except UNAVAILABLE as exc:
            await pause("claiming a job", exc)
        except RedisError as exc:
            if not lost_group(exc):
                raise
            logger.warning("the jobs stream or its group is gone; creating it again")
            await self.start()
        return None

    async def _claim(self, worker: str, lease_s: float) -> Claim | None:
        lease_ms = max(1, int(lease_s * 1000))
        reply = await self.client.xautoclaim(
            self.keys.jobs, WORKERS_GROUP, worker, lease_ms, start_id="0-0", count=1
        )
        taken = [(eid, fields) for eid, fields in reply[1] if fields]
        if taken:
            entry_id, fields = taken[0]
            pending = await self.client.xpending_range(
                self.keys.jobs, WORKERS_GROUP, entry_id, entry_id, 1
            )
            deliveries = int(pending[0]["times_delivered"]) if pending else 2
            self.redelivered += 1
            logger.warning("%s: took over entry %s (delivery %d)", worker, entry_id, deliveries)
        else:
            reply = await self.client.xreadgroup(
                WORKERS_GROUP, worker, {self.keys.jobs: ">"}, count=1, block=BLOCK_MS
            )
            found = entries(reply)
            if not found:
                return None
            entry_id, fields = found[0]
            deliveries = 1
        try:
            job, photo = decode_job(fields)
        except MalformedEntry as exc:
            logger.error("skipping malformed job entry %s: %s", entry_id, exc)
            await self._drop(entry_id)
            return None
        self._entries[job.id] = (entry_id, worker)
        # job.attempts: the bot's dispatches so far (this one included).
        return Claim(job, job.attempts + deliveries - 1, photo)

    async def renew(self, job_id: int, worker: str, lease_s: float) -> bool:
        """Reset the entry's idle time -- only while it is still ours (not taken over)."""
        held = self._entries.get(job_id)
        if held is None:
            return False
        entry_id, _ = held
        try:
            pending = await self.client.xpending_range(
                self.keys.jobs, WORKERS_GROUP, entry_id, entry_id, 1
            )
            if not pending or pending[0]["consumer"] != worker.encode():
                return False
            await self.client.xclaim(
                self.keys.jobs, WORKERS_GROUP, worker, 0, [entry_id], justid=True
            )
        except UNAVAILABLE as exc:
            logger.warning("could not renew the lease of job %d: %s", job_id, exc)
            return False
        return True

    async def complete(self, job_id: int, result: JobResult) -> None:
        """Store the result, then (same transaction) acknowledge and delete the job entry.
        Retried while Redis is away: a computed result is not thrown away lightly."""
        held = self._entries.pop(job_id, None)
        worker = held[1] if held else ""
        fields = encode_result(job_id, result, worker=worker)
        while True:
            try:
                async with self.client.pipeline(transaction=True) as pipe:
                    pipe.xadd(self.keys.results, fields)
                    if held is not None:
                        pipe.xack(self.keys.jobs, WORKERS_GROUP, held[0])
                        pipe.xdel(self.keys.jobs, held[0])
                    await pipe.execute()
                return
            except UNAVAILABLE as exc:
                await pause(f"storing the result of job {job_id}", exc)

    async def fail(self, job_id: int, error: ErrorKind, detail: str = "") -> None:
        await self.complete(job_id, failure(job_id, error, detail).result)

    async def release(self, job_id: int, worker: str) -> None:
        """Give a job back unstarted: a fresh copy of the entry (no delivery counted)."""
        held = self._entries.pop(job_id, None)
        if held is None:
            return
        entry_id = held[0]
        try:
            found = await self.client.xrange(self.keys.jobs, entry_id, entry_id)
            if not found:
                return
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.keys.jobs, found[0][1])
                pipe.xack(self.keys.jobs, WORKERS_GROUP, entry_id)
                pipe.xdel(self.keys.jobs, entry_id)
                new_id, *_ = await pipe.execute()
            await self.client.hset(self.keys.inflight, str(job_id), new_id)
        except UNAVAILABLE as exc:
            # The entry stays pending: another worker takes it over after the lease.
            logger.warning("could not release job %d: %s", job_id, exc)

    async def _drop(self, entry_id: bytes) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.jobs, WORKERS_GROUP, entry_id)
            pipe.xdel(self.keys.jobs, entry_id)
            await pipe.execute()
