"""``stickerbot worker``: a worker process for any machine, computing jobs from Redis.

It needs nothing but the Redis URL and a model: the bot downloads each photo and puts it on
the stream with its job, so a worker holds no bot token and talks to no Telegram server.
``--concurrency N`` runs N models side by side (each in its own child process by default),
claiming N jobs at a time. A heartbeat (``{prefix}:workers``) tells the bot it is alive and
what it did. SIGTERM (or SIGINT) stops it gracefully: the jobs on the model finish within
the grace period and their results are stored; claimed jobs not started are given back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from contextlib import suppress
from typing import Any

from bot.engine import Engine, SegmenterFactory
from bot.queue.redis_jobs import RedisQueue
from bot.queue.streams import UNAVAILABLE, heartbeat, pause
from bot.results import JobResult
from bot.runner import Compute, Runner
from segmentation.options import StickerOptions, ZoomOptions

logger = logging.getLogger(__name__)

# Heartbeats per lease: a worker is shown alive while its last beat is within one lease.
BEATS_PER_LEASE = 3


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class EnginePool:
    """N engines (N models) behind one :data:`~bot.runner.Compute`: each job takes a free one."""

    def __init__(self, factory: SegmenterFactory, size: int, *, isolate: bool) -> None:
        self.engines = [Engine(factory, isolate=isolate) for _ in range(size)]
        self._free: asyncio.Queue[Engine] = asyncio.Queue()

    async def load(self) -> str:
        infos = await asyncio.gather(*(engine.load() for engine in self.engines))
        for engine in self.engines:
            self._free.put_nowait(engine)
        return f"{infos[0].name} ({infos[0].backend}, {infos[0].device})"

    async def __call__(self, data: bytes, options: StickerOptions) -> JobResult:
        engine = await self._free.get()
        try:
            return await engine.run(data, options)
        finally:
            self._free.put_nowait(engine)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


async def run_worker(
    queue_url: str,
    compute: Compute,
    *,
    model: str,
    name: str,
    concurrency: int,
    lease_s: float,
    max_attempts: int,
    max_bytes: int,
    grace_s: float,
    stop: asyncio.Event | None = None,
    zoom: ZoomOptions | None = None,
) -> None:
    """Claim and compute jobs until ``stop`` is set (by default: on SIGTERM or SIGINT)."""
    stop = stop or _stop_on_signals()
    queue = RedisQueue(queue_url)
    while not stop.is_set():
        try:
            await queue.start()
            break
        except UNAVAILABLE as exc:
            await pause("connecting", exc)
    runner = Runner(
        queue,
        compute,
        name=name,
        lease_s=lease_s,
        max_attempts=max_attempts,
        max_bytes=max_bytes,
        concurrency=concurrency,
        zoom=zoom,
    )

    async def beat(*, stopped: bool = False) -> None:
        counters = runner.counters
        value = heartbeat(
            done=counters.done,
            redelivered=counters.redelivered,
            model=model,
            concurrency=concurrency,
            stopped=stopped,
        )
        try:
            await queue.client.hset(queue.keys.workers, name, value)
        except UNAVAILABLE as exc:
            logger.warning("heartbeat failed: %s", exc)

    async def beating() -> None:
        while True:
            await beat()
            await asyncio.sleep(lease_s / BEATS_PER_LEASE)

    runner.start()
    heart = asyncio.create_task(beating(), name="heartbeat")
    logger.info("worker %s up: %s, %d at a time", name, model, concurrency)
    try:
        await stop.wait()
        logger.info("worker %s stopping (up to %.0f s for the jobs in hand)", name, grace_s)
    finally:
        await runner.stop(grace_s)
        heart.cancel()
        with suppress(asyncio.CancelledError):
            await heart
        await beat(stopped=True)
        await queue.close()
    logger.info("worker %s stopped: %d job(s) done", name, runner.counters.done)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(
    queue_url: str,
    factory: SegmenterFactory,
    *,
    isolate: bool,
    concurrency: int,
    **options: Any,
) -> None:
    """Load ``concurrency`` models, then :func:`run_worker` with them."""
    pool = EnginePool(factory, concurrency, isolate=isolate)
    try:
        model = await pool.load()
        await run_worker(queue_url, pool, model=model, concurrency=concurrency, **options)
    finally:
        pool.close()
