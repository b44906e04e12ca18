"""Scaling out, end to end: the bot (QUEUE_URL=redis) with ``stickerbot worker`` processes and
a real redis-server, through the Bot API emulator. Every photo is answered exactly once --
through a worker SIGKILLed mid-job, a Redis restart, and a worker that hangs past its lease."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import StickerBot
from bot.queue.streams import WORKERS_GROUP
from tests.bot.botkit import ADMIN, USER, photo, reply, texted, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 1.5
# Everything (200 photos, a kill, a Redis restart) within this, on a slow 2-core machine.
FINISH_S = 150.0
ERROR_FRAGMENTS = ("Sorry", "couldn't", "after several tries", "went wrong")

Check = Callable[[], Awaitable[bool]]
Spawn = Callable[..., Awaitable[asyncio.subprocess.Process]]


@asynccontextmanager
async def workers_of(server: RedisServer, log_dir: Path) -> AsyncIterator[Spawn]:
    """``await spawn(name, service_ms=...)``: a worker process; all are ended after."""
    started: list[asyncio.subprocess.Process] = []

    async def spawn(name: str, *, service_ms: float = 40.0) -> asyncio.subprocess.Process:
        with (log_dir / f"{name}.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.bot.redis_worker",
                "--queue",
                server.url,
                "--name",
                name,
                "--lease",
                str(LEASE_S),
                "--service-ms",
                str(service_ms),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=log,
                stderr=log,
            )
        started.append(process)
        return process

    try:
        yield spawn
    finally:
        for process in started:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in started:
            await process.wait()


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the emulator's record has no event for this
            await asyncio.sleep(0.05)
    assert condition(), what


async def eventually(check: Check, timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll ``check`` (state in another process or in Redis: nothing to wait on) until true."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(what) from None


def documents(emu: BotApiEmulator) -> list[int]:
    return [call.params["chat_id"] for call in emu.calls_to("sendDocument") if call.ok]


def done_edits(emu: BotApiEmulator) -> Counter[int]:
    """Job id -> how many "Done ✓ #id" edits were made."""
    edits: Counter[int] = Counter()
    for call in emu.calls_to("editMessageText"):
        text = str(call.params.get("text", ""))
        if call.ok and text.startswith("Done ✓ #"):
            edits[int(re.match(r"Done ✓ #(\d+)", text)[1])] += 1  # type: ignore[index]
    return edits


async def redelivered(bot: StickerBot) -> int:
    return sum(worker.redelivered for worker in await bot.worker.queue.workers())


async def start_redis_bot(
    start_bot: StartBot, server: RedisServer, **settings: object
) -> StickerBot:
    bot = await start_bot(QUEUE_URL=server.url, LEASE_SECONDS=LEASE_S, **settings)
    assert bot.engine is None  # the bot process loads no model: workers compute
    return bot


@pytest.mark.slow
async def test_200_photos_from_50_users_through_a_worker_kill_and_a_redis_restart(
    redis_server: RedisServer, emulator: BotApiEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    users = [1000 + i for i in range(50)]
    async with workers_of(redis_server, tmp_path) as spawn:
        workers = [await spawn(f"w{i}") for i in range(3)]
        bot = await start_redis_bot(
            start_bot, redis_server, QUEUE_MAX=200, MAX_PENDING_PER_USER=4, QUEUE_IN_FLIGHT=12
        )
        for _ in range(4):
            for user in users:
                emulator.send_photo(user, photo())

        await until(lambda: len(documents(emulator)) >= 30, FINISH_S, "a first 30 answered")
        client, keys = bot.worker.queue.client, bot.worker.queue.keys

        async def w0_holds_a_job() -> bool:
            held = await client.xpending_range(keys.jobs, WORKERS_GROUP, "-", "+", 5, "w0")
            return bool(held)

        await eventually(w0_holds_a_job, FINISH_S, "w0 never held a job")
        workers[0].kill()  # SIGKILL mid-job: its job in hand is left pending in Redis
        await workers[0].wait()
        await until(lambda: len(documents(emulator)) >= 100, FINISH_S, "half answered")
        redis_server.restart()  # append-only file on: in-flight jobs and results survive
        await until(lambda: len(done_edits(emulator)) >= 200, FINISH_S, "all answered")
        await bot.worker.wait_idle()
        taken_over = await redelivered(bot)

        # /metrics and /stats show the workers: w0 (killed) fell silent; Redis holds nothing.
        async def settled() -> bool:
            metrics = await bot.metrics_text()
            wanted = ("stickerbot_workers_alive 2\n", "stickerbot_queue_in_flight 0\n")
            return all(line in metrics for line in wanted)

        await eventually(settled, 30, "/metrics never showed 2 workers and nothing in flight")
        metrics = await bot.metrics_text()
        assert 'stickerbot_worker_jobs_total{worker="w1"}' in metrics
        emulator.send_text(ADMIN, "/stats")
        stats = await reply(emulator, ADMIN, "Workers 2 alive of 3 seen")
        assert "w0: gone" in stats.params["text"]
        for worker in workers[1:]:
            worker.terminate()
            assert await worker.wait() == 0  # SIGTERM: a clean stop

    # Every photo answered exactly once, checked from the emulator's record.
    assert done_edits(emulator) == Counter({job_id: 1 for job_id in range(1, 201)})
    assert Counter(documents(emulator)) == Counter({user: 4 for user in users})
    stickers = [c.params["chat_id"] for c in emulator.calls_to("sendSticker") if c.ok]
    assert Counter(stickers) == Counter({user: 4 for user in users})
    for user in users:
        told = [c for c in emulator.calls_to("sendMessage") if to(user)(c)]
        assert not [c for c in told if any(f in c.params["text"] for f in ERROR_FRAGMENTS)]
    assert taken_over >= 1  # the killed worker's jobs were taken over by the others
    assert await bot.journal.unfinished() == []


@pytest.mark.slow
async def test_a_worker_that_hangs_past_its_lease_has_its_job_finished_by_another(
    redis_server: RedisServer, emulator: BotApiEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    async with workers_of(redis_server, tmp_path) as spawn:
        slow = await spawn("hangs", service_ms=3000)
        bot = await start_redis_bot(start_bot, redis_server)
        client = bot.worker.queue.client
        keys = bot.worker.queue.keys
        await client.xadd(keys.jobs, {b"not": b"a job"})  # read, logged and skipped first
        emulator.send_photo(USER, photo())

        async def on_the_slow_model() -> bool:
            # Job #1 in the slow worker's hands -- not the malformed entry it reads first (a
            # stop while that one is pending left the job to the rescuer alone), nor a read
            # reply Redis sent and the stopped worker never took in (it times out on waking).
            return "job 1: on the model" in (tmp_path / "hangs.log").read_text()

        await eventually(on_the_slow_model, 30, "the slow worker never took the job")
        os.kill(slow.pid, signal.SIGSTOP)  # hangs: no result, no lease renewed
        await spawn("rescuer", service_ms=10)
        await emulator.wait_for("editMessageText", texted(USER, "Done ✓ #1"), 60)
        os.kill(slow.pid, signal.SIGCONT)  # wakes up and stores its (late) result too

        async def both_results_handled() -> bool:
            done = {w.name: w.done for w in await bot.worker.queue.workers()}
            pending = await client.xlen(keys.results)
            return done.get("hangs") == 1 and done.get("rescuer") == 1 and pending == 0

        await eventually(both_results_handled, 30, "the late result was never handled")
        assert await redelivered(bot) == 1

    assert len(documents(emulator)) == 1
    assert len([c for c in emulator.calls_to("sendSticker") if c.ok]) == 1
    assert done_edits(emulator) == Counter({1: 1})
    assert "skipping malformed job entry" in (tmp_path / "hangs.log").read_text()
