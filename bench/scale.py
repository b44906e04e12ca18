"""Scaling out: ``python -m bench.load --queue redis --workers N`` (and ``--queue sqlite``).

Measures the queue, not Telegram: the bot's real side of the queue (the journal, and for
Redis the dispatcher with its in-flight window) against N real ``stickerbot worker`` loops
(:func:`bot.remote.run_worker`, one process each), with the photo "download" a stand-in that
returns the bytes at once. Jobs are accepted into the journal, results taken back and the
journal closed, as the bot does.

* **throughput**: ``--jobs`` per worker submitted at once; jobs/s over the run, and its ratio
  to N x (one worker's measured rate) -- 1.0 is perfect scaling (target >= 0.9);
* **queue overhead**: one job at a time through one worker; per job, the time from accepting
  it to holding its result, minus the model's service time (p50 / p99), for Redis and for the
  embedded SQLite default.

The model is a stand-in of fixed service time (a sleep off the CPU, as a GPU would be:
``--service-ms``), or a real TFLite model (``--model PATH``, on a real photo).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.journal import Journal
from bot.queue.local import LocalQueue
from bot.queue.redis_dispatch import RedisDispatch
from bot.results import JobResult
from bot.runner import Compute, Runner
from segmentation.options import StickerOptions

ROOT = Path(__file__).resolve().parents[1]
PHOTO_FILE = ROOT.parent / "shared" / "fixtures" / "seed_cat" / "cat.jpg"
LEASE_S = 10.0
# No model here hangs: its jobs are never let go (the bench's jobs take well under a second).
HOLD_S = 20 * LEASE_S
MAX_BYTES = 20 * 1024 * 1024
# Jobs in Redis at once, per worker: one on the model, one prefetched, one arriving.
IN_FLIGHT_PER_WORKER = 4
OVERHEAD_JOBS = 100
WORKER_START_S = 120.0


class FixedTime:
    """A model of fixed service time: sleeps off the CPU, answers a tiny sticker."""

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s

    async def __call__(self, data: bytes, options: StickerOptions) -> JobResult:
        started = time.perf_counter()
        await asyncio.to_thread(time.sleep, self.service_s)
        total_ms = (time.perf_counter() - started) * 1000
        return JobResult(png=b"\x89PNG stand-in", target="cat", timings_ms={"total": total_ms})


@dataclass
class Run:
    queue: str
    workers: int
    jobs: int = 0
    wall_s: float = 0.0
    overhead_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    result_bytes: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.wall_s if self.wall_s else 0.0


# --- the bot's side -------------------------------------------------------------------------


class Side:
    """Accept jobs into the journal, collect their results, close them."""

    def __init__(self, journal: Journal, queue: LocalQueue | RedisDispatch) -> None:
        self.journal = journal
        self.queue = queue
        self.submitted: dict[int, float] = {}
        self.latency_s: dict[int, float] = {}
        self.timings: dict[int, float] = {}
        self.result_bytes: list[int] = []
        self._count = 0

    async def submit(self) -> int:
        self._count += 1
        admission = await self.journal.call(
            self.journal.jobs.accept,
            chat_id=self._count,
            user_id=self._count,
            message_id=self._count,
            file_id=f"file-{self._count}",
            target="auto",
            crf=True,
            queue_max=1_000_000,
            user_max=1_000_000,
        )
        assert admission.job is not None
        self.submitted[admission.job.id] = time.perf_counter()
        await self.queue.submit(admission.job)
        return admission.job.id

    async def collect(self, count: int) -> None:
        from bot.jobs import JobState

        for _ in range(count):
            finished = await self.queue.next_result()
            job_id = finished.job_id
            self.latency_s[job_id] = time.perf_counter() - self.submitted[job_id]
            self.timings[job_id] = finished.result.timings_ms.get("total", 0.0)
            result = finished.result
            self.result_bytes.append(len(result.png or b"") + len(result.webp or b""))
            await self.journal.finish(job_id, JobState.DONE, "sticker", "cat")
            await self.queue.delivered(job_id)


async def photo_of(job: object, *, photo: bytes) -> bytes:
    return photo


# --- runs ---------------------------------------------------------------------------------------


async def run_sqlite(
    compute: Compute, photo: bytes, workdir: Path, *, jobs: int, sequential: bool
) -> Run:
    journal = await Journal.open(workdir / f"sqlite-{time.monotonic_ns()}.sqlite3")
    queue = LocalQueue(journal)
    await queue.start()
    runner = Runner(
        queue,
        compute,
        name="bench",
        lease_s=LEASE_S,
        hold_s=HOLD_S,
        max_attempts=3,
        max_bytes=MAX_BYTES,
        fetch=functools.partial(photo_of, photo=photo),
    )
    runner.start()
    try:
        return await _drive(Side(journal, queue), "sqlite", 1, jobs, sequential)
    finally:
        await runner.stop(0)
        await journal.close()


async def run_redis(
    url: str,
    spawn: Callable[[int], Awaitable[list[asyncio.subprocess.Process]]],
    photo: bytes,
    workdir: Path,
    *,
    workers: int,
    jobs: int,
    sequential: bool,
) -> Run:
    processes = await spawn(workers)
    journal = await Journal.open(workdir / f"redis-{time.monotonic_ns()}.sqlite3")
    dispatch = RedisDispatch(
        url,
        journal,
        functools.partial(photo_of, photo=photo),
        in_flight=IN_FLIGHT_PER_WORKER * workers,
        lease_s=LEASE_S,
        max_attempts=3,
    )
    await dispatch.start()
    try:
        await _wait_for_workers(dispatch, workers)
        return await _drive(Side(journal, dispatch), "redis", workers, jobs, sequential)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()
        await dispatch.client.delete(dispatch.keys.workers)
        await dispatch.stop()
        await journal.close()


async def _wait_for_workers(dispatch: RedisDispatch, count: int) -> None:
    async with asyncio.timeout(WORKER_START_S):
        while sum(w.alive for w in await dispatch.workers()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def _drive(side: Side, queue: str, workers: int, jobs: int, sequential: bool) -> Run:
    run = Run(queue, workers, jobs)
    started = time.perf_counter()
    if sequential:
        for _ in range(jobs):
            await side.submit()
            await side.collect(1)
    else:
        collector = asyncio.create_task(side.collect(jobs))
        for _ in range(jobs):
            await side.submit()
        await collector
    run.wall_s = time.perf_counter() - started
    run.service_ms = [side.timings[j] for j in side.latency_s]
    run.result_bytes = side.result_bytes
    run.overhead_ms = [side.latency_s[j] * 1000 - side.timings[j] for j in sorted(side.latency_s)]
    return run


# --- worker processes ---------------------------------------------------------------------------


def worker_spawner(url: str, args: argparse.Namespace) -> Callable[..., Awaitable[list[Any]]]:
    async def spawn(count: int) -> list[asyncio.subprocess.Process]:
        processes = []
        for index in range(count):
            argv = [
                sys.executable,
                "-m",
                "bench.scale",
                "--serve-worker",
                url,
                "--name",
                f"w{index}",
            ]
            if args.model:
                argv += ["--model", args.model]
            else:
                argv += ["--service-ms", str(args.service_ms)]
            processes.append(
                await asyncio.create_subprocess_exec(
                    *argv, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )  # fmt: skip
        return processes

    return spawn


def serve_worker(url: str, name: str, service_ms: float, model: str | None) -> None:
    from bot.remote import run_worker, serve

    options = {
        "name": name,
        "lease_s": LEASE_S,
        "hold_s": HOLD_S,
        "max_attempts": 3,
        "max_bytes": MAX_BYTES,
        "grace_s": 5.0,
    }
    if model is None:
        compute = FixedTime(service_ms / 1000)
        asyncio.run(
            run_worker(url, compute, model="fixed-time", concurrency=1, **options)  # type: ignore[arg-type]
        )
        return
    from segmentation.segmenter import load_segmenter

    factory = functools.partial(load_segmenter, model, num_threads=1)
    asyncio.run(serve(url, factory, isolate=False, concurrency=1, **options))  # type: ignore[arg-type]


# --- the report -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


async def measure(args: argparse.Namespace) -> list[str]:
    from bench.machine import cpu_flags, cpu_name
    from tests.redis_server import REDIS_SERVER, RedisServer

    flags = ", ".join(name for name, on in cpu_flags().items() if on)
    lines = [f"CPU: {cpu_name()} ({flags}), {os.cpu_count()} cores"]
    lines.append("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    model = args.model or f"fixed {args.service_ms:.0f} ms stand-in"
    photo = PHOTO_FILE.read_bytes() if args.model else b"\xff\xd8 stand-in photo"
    counts = sorted({int(n) for n in str(args.workers).split(",")})
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    runs: list[Run] = []
    if args.queue == "redis":
        if REDIS_SERVER is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        server = RedisServer()
        server.start()
        try:
            spawn = worker_spawner(server.url, args)
            for n in counts:
                runs.append(
                    await run_redis(
                        server.url, spawn, photo, workdir,
                        workers=n, jobs=args.jobs * n, sequential=False,
                    )
                )  # fmt: skip
            overhead = await run_redis(
                server.url, spawn, photo, workdir,
                workers=1, jobs=args.overhead_jobs, sequential=True,
            )  # fmt: skip
        finally:
            server.cleanup()
    else:
        overhead = await run_sqlite(
            _local_compute(args), photo, workdir, jobs=args.overhead_jobs, sequential=True
        )
    baseline = None
    if not args.model:
        baseline = await run_sqlite(
            _local_compute(args), photo, workdir, jobs=args.overhead_jobs, sequential=True
        )
    one = next((r.rate for r in runs if r.workers == 1), None)
    lines.append(f"model: {model}; {args.jobs} jobs per worker")
    lines.append("| queue | workers | jobs | jobs/s | vs N x one worker |")
    lines.append("| --- | --- | --- | --- | --- |")
    for run in runs:
        ratio = run.rate / (run.workers * one) if one else float("nan")
        lines.append(f"| {run.queue} | {run.workers} | {run.jobs} | {run.rate:.2f} | {ratio:.2f} |")
    lines.append("| queue | per-job queue overhead p50 | p99 | jobs |")
    lines.append("| --- | --- | --- | --- |")
    for run in (overhead, baseline):
        if run is not None:
            lines.append(
                f"| {run.queue} | {percentile(run.overhead_ms, 50):.1f} ms "
                f"| {percentile(run.overhead_ms, 99):.1f} ms | {run.jobs} |"
            )
    lines.append("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    if args.model and runs:
        mean_result = sum(runs[0].result_bytes) / max(1, len(runs[0].result_bytes))
        lines.append(
            f"over the wire per job: {len(photo) / 1024:.0f} KiB to the worker (the photo), "
            f"{mean_result / 1024:.0f} KiB back (PNG + WEBP)"
        )
        mean_service = sum(runs[0].service_ms) / max(1, len(runs[0].service_ms))
        lines.append(f"mean pipeline time on a worker: {mean_service:.0f} ms")
    return lines


def _local_compute(args: argparse.Namespace) -> Compute:
    if args.model is None:
        return FixedTime(args.service_ms / 1000)
    from bot.engine import Engine
    from segmentation.segmenter import load_segmenter

    engine = Engine(functools.partial(load_segmenter, args.model, num_threads=1))

    async def compute(data: bytes, options: StickerOptions) -> JobResult:
        if not engine.ready:
            await engine.load()
        return await engine.run(data, options)

    return compute


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-worker", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--service-ms", type=float, default=100.0)
    parser.add_argument("--model")
    ns = parser.parse_args()
    serve_worker(ns.serve_worker, ns.name, ns.service_ms, ns.model)
