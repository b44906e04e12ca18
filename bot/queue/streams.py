"""Redis Streams as the job queue: the keys, the connection, and what both sides share.

::

    bot ──XADD──> {prefix}:jobs ──XREADGROUP (group "workers")──> stickerbot worker
     ^                 │ XAUTOCLAIM after the lease: a dead or stuck worker's job
     │                 v
     └──XREADGROUP── {prefix}:results <──XADD + XACK + XDEL (one MULTI)── worker
        (group "bots"; XACK after the journal recorded the answer)

``{prefix}:inflight`` maps job id -> its entry in the jobs stream, from dispatch until the
bot acknowledged its result (the jobs Redis holds, as job or as result);
``{prefix}:workers`` maps worker name -> its last heartbeat. Only jobs in flight live in
Redis -- at most ``QUEUE_IN_FLIGHT`` -- and the journal, in the bot, stays the record of
truth: a job Redis lost is dispatched again from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.queue import WorkerStatus

logger = logging.getLogger(__name__)

WORKERS_GROUP = "workers"
BOTS_GROUP = "bots"
DEFAULT_PREFIX = "stickerbot"
# A blocking read returns after this long with nothing (loops then check for a stop).
BLOCK_MS = 1000
# Waiting before the next try when Redis is unreachable (restarting, network).
RECONNECT_DELAY_S = 0.5
# The socket waits this much longer than a blocking read before calling Redis unreachable.
SOCKET_MARGIN_S = 5.0
# Failures that mean "Redis is not there right now": wait and try again.
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class Keys:
    jobs: str
    results: str
    inflight: str
    workers: str

    @classmethod
    def of(cls, prefix: str = DEFAULT_PREFIX) -> Keys:
        return cls(f"{prefix}:jobs", f"{prefix}:results", f"{prefix}:inflight", f"{prefix}:workers")


def connect(url: str) -> Any:
    """An asyncio Redis client for ``url`` (bytes in, bytes out). ``Any``: redis-py types its
    asyncio methods as ``X | Awaitable[X]``, which strict typing cannot await."""
    return aioredis.from_url(
        url,
        decode_responses=False,
        socket_timeout=BLOCK_MS / 1000 + SOCKET_MARGIN_S,
        socket_connect_timeout=SOCKET_MARGIN_S,
        health_check_interval=30,
    )


async def ensure_group(client: Any, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) unless it exists."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def lost_group(error: RedisError) -> bool:
    """Redis came back without our stream or group (its data was lost): create them again."""
    return isinstance(error, ResponseError) and "NOGROUP" in str(error)


async def pause(what: str, error: BaseException) -> None:
    """Wait before trying again -- unless the task is being cancelled: redis-py may turn a
    cancellation that lands mid-command into a connection error, which must not be retried."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    logger.warning("redis unavailable while %s (%s); retrying", what, error)
    await asyncio.sleep(RECONNECT_DELAY_S)


def entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """The (id, fields) of an XREADGROUP reply (one stream)."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return [(eid, fields) for batch in reply.values() for eid, fields in batch[0]]
    return [(eid, fields) for _, batch in reply for eid, fields in batch]


# --- heartbeats ---------------------------------------------------------------------------------


def heartbeat(
    *, done: int, redelivered: int, model: str, concurrency: int, stopped: bool = False
) -> bytes:
    """A worker's heartbeat; its last one, on a graceful stop, says ``stopped``."""
    return json.dumps(
        {
            "seen": time.time(),
            "stopped": stopped,
            "done": done,
            "redelivered": redelivered,
            "model": model,
            "concurrency": concurrency,
        }
    ).encode()


def worker_statuses(raw: dict[bytes, bytes], alive_within_s: float) -> list[WorkerStatus]:
    """The workers' heartbeats; a malformed one is skipped."""
    now = time.time()
    statuses = []
    for name, value in sorted(raw.items()):
        try:
            beat = json.loads(value)
            seen = now - float(beat["seen"])
            statuses.append(
                WorkerStatus(
                    name=name.decode(errors="replace"),
                    alive=seen <= alive_within_s and not beat.get("stopped", False),
                    last_seen_s=max(0.0, seen),
                    done=int(beat["done"]),
                    redelivered=int(beat["redelivered"]),
                    model=str(beat.get("model", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("a malformed heartbeat of worker %r; skipped", name)
    return statuses
