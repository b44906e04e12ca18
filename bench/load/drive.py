"""The driver: the bot started as its own process against the Bot API emulator, the load
sent, the answers awaited and checked, the measurements gathered into a :class:`Report`."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load.plan import PENDING_PER_USER, QUEUE_MAX, build_photos, load_plan
from bench.load.probes import HealthProbe, RssProbe
from bench.load.report import Report, percentiles, throughput
from bench.load.verify import settled, verify

ROOT = Path(__file__).resolve().parents[2]
SMALL_MODEL = ROOT.parent / "shared" / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"

# Waiting for the bot to start (imports, model load) and for the last answers.
START_TIMEOUT_S = 120.0
FINISH_TIMEOUT_S = 600.0


async def drive(args: argparse.Namespace) -> Report:
    from tests.bot.emulator import BotApiEmulator

    report = Report(photos=args.photos, users=args.users, model=args.model or "colour stand-in")
    photos = build_photos(real=args.model is not None)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="stickerbot-load-") as work:
        lag_file, log_file = Path(work) / "lag.json", Path(work) / "bot.log"
        async with BotApiEmulator() as emu:
            env = {
                **os.environ,
                "BOT_TOKEN": emu.token,
                "TELEGRAM_API_URL": emu.url,
                "DATA_DIR": str(Path(work) / "data"),
                "MODEL": args.model or "standin.tflite",
                "ISOLATE_MODEL": "false" if args.thread else "true",
                "QUEUE_MAX": str(QUEUE_MAX),
                "MAX_PENDING_PER_USER": str(PENDING_PER_USER),
                "LISTEN_PORT": str(port),
                "LOG_LEVEL": "WARNING",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            }
            command = [sys.executable, "-m", "bench.load", "--serve", str(lag_file)]
            if args.model:
                command += ["--model", args.model]
            with log_file.open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    *command, cwd=ROOT, env=env, stdout=log, stderr=log
                )
            first_phase_end = math.inf
            rss = RssProbe(process.pid)
            rss.start()
            try:
                await _wait_ready(port, process)
                health = HealthProbe(port)
                health.start()
                started = time.perf_counter()
                plan = load_plan(args.photos, args.users, args.burst)
                sent = await _send(emu, photos, plan[:1], args.gap)
                await _settle(emu, sent)
                first_phase_end = time.time()
                sent += await _send(emu, photos, plan[1:], args.gap)
                await _settle(emu, sent)
                report.wall_s = time.perf_counter() - started
                health.done.set()
                process.send_signal(signal.SIGTERM)
                report.bot_exit_code = await asyncio.wait_for(process.wait(), 60)
            finally:
                rss.done.set()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            verify(emu, sent, report)
        if report.bot_exit_code != 0:
            report.problems.append(
                f"the bot exited with {report.bot_exit_code}: "
                + log_file.read_text(errors="replace")[-2000:]
            )
        measured = json.loads(lag_file.read_text()) if lag_file.exists() else {}
    report.healthz_ms = percentiles(health.latencies_ms)
    report.healthz_failures = health.failures
    busy_lags = [lag for lag, busy in measured.get("lags", []) if busy]
    report.loop_lag_busy_ms = percentiles(busy_lags)
    throughput(measured.get("samples", []), report, until=first_phase_end)
    peaks = sorted(rss.peak_kb.items())
    report.peak_rss_bot_mb = rss.peak_kb.get(process.pid, 0) / 1024
    report.peak_rss_model_mb = (
        max((kb for pid, kb in peaks if pid != process.pid), default=0) / 1024
    )
    report.peak_rss_total_mb = rss.peak_total_kb / 1024
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(port: int, process: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        await writer.wait_closed()
        if await asyncio.to_thread(_healthy, port):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the bot did not become ready")


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    finally:
        connection.close()


async def _settle(emu: Any, sent: list[tuple[int, int]]) -> None:
    async with asyncio.timeout(FINISH_TIMEOUT_S):
        while not settled(emu, sent):  # noqa: ASYNC110 - polls the emulator's record
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # the last status edits follow the answers


async def _send(
    emu: Any, photos: dict[str, bytes], plan: list[list[tuple[int, str]]], gap_s: float
) -> list[tuple[int, int]]:
    sent = []
    for index, burst in enumerate(plan):
        if index:
            await asyncio.sleep(gap_s)
        for user, kind in burst:
            update = emu.send_photo(user, photos[kind])
            sent.append((user, update["message"]["message_id"]))
        await asyncio.sleep(0)
    return sent
