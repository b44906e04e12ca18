"""Load test of the whole bot: ``python -m bench.load`` (not a unit test; takes ~1-3 minutes).

The bot runs as its own process, as in production (the model in its child process), talking
to the Bot API emulator of the test suite, which runs here with the driver. Simulated users
send photos in bursts; then everything the emulator recorded is checked:

* every accepted photo answered exactly once (one PNG document and one sticker, or one
  explanation), every refused one told why (busy, or too many pending), none lost, none
  duplicated -- the exit status is 1 otherwise;
* peak RSS of the bot process and of its model process;
* event-loop lag of the bot (a ticker task in its loop, every 10 ms): p50 / p99 / max while
  jobs are in progress (target p99 < 100 ms);
* ``/healthz`` latency (p50 / p99) under load, probed from a thread of its own;
* throughput of the worker with a full queue (stickers/s), and its ratio to
  1 / (mean pipeline time: decode + model + CRF + compose + encode) measured in the same
  run -- 1.0 means the model never waits for the network.

The load, in order: one burst of ``QUEUE_MAX`` photos of a cat from distinct users, answered
before anything else is sent (the throughput window: nothing but the worker runs); then the
rest in bursts of ``--burst`` photos (1 in 10 with nothing to cut out), ``--gap`` seconds
apart, from a third of the users -- so several photos per user at once, and bursts that
meet a full queue.

    python -m bench.load [--photos 500] [--users 100] [--burst 100] [--gap 8]
                         [--model PATH.tflite] [--thread] [--json]

The default model is the fast colour stand-in of the tests (``tests.standins``); ``--model``
takes a real TFLite model, e.g. ``../shared/models/deeplabv3_mnv2_dm05_pascal_quant.tflite``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import math
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SMALL_MODEL = ROOT.parent / "shared" / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"

# The bot's admission limits during the run (the production defaults).
QUEUE_MAX = 100
PENDING_PER_USER = 3
# Users who open each later burst with more photos than they may have pending.
GREEDY_USERS = 3
# Seconds between the later bursts: the queue drains in part, so that they meet a queue with
# some room (and are partly refused as busy).
BURST_GAP_S = 8.0
# The ticker of the bot's loop, and how often it also samples the worker's counters.
TICK_S = 0.01
SAMPLE_EVERY = 5
HEALTHZ_EVERY_S = 0.05
RSS_EVERY_S = 0.25
# The photos: 640x480, like a phone photo Telegram has compressed.
PHOTO_SIZE = (640, 480)
# Waiting for the bot to start (imports, model load) and for the last answers.
START_TIMEOUT_S = 120.0
FINISH_TIMEOUT_S = 600.0
BUSY_TEXT = "I'm busy right now"
USER_LIMIT_TEXT = "You already have"
QUEUED_TEXT = "Queued, #"


# --- the bot's side: ``python -m bench.load --serve`` --------------------------------------------


async def serve(lag_file: Path, model: str | None) -> None:
    """Run the bot like ``stickerbot bot`` does, plus a ticker measuring its loop's lag."""
    from bot.app import StickerBot
    from bot.config import load_settings
    from bot.logs import setup_logging

    settings = load_settings(None)
    setup_logging(settings.LOG_LEVEL, secrets=[settings.BOT_TOKEN.get_secret_value()])
    factory = None
    if model is None:
        from tests.standins import ColourSegmenter

        factory = ColourSegmenter  # a class: picklable, so it can go to the model process
    bot = StickerBot(settings, segmenter_factory=factory)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lags: list[tuple[float, bool]] = []
    samples: list[tuple[float, int, int, float, int]] = []

    async def tick() -> None:
        histogram = bot.stats.histograms["inference"]
        busy = False
        for count in itertools.count():
            started = loop.time()
            await asyncio.sleep(TICK_S)
            lag_ms = (loop.time() - started - TICK_S) * 1000
            lags.append((lag_ms, busy))
            if count % SAMPLE_EVERY == 0:
                done = sum(bot.stats.outcomes.values())
                counts = await bot.worker.counts()
                busy = counts.running > 0
                samples.append((time.time(), done, counts.queued, histogram.total, histogram.count))

    try:
        await bot.start()
        ticker = asyncio.create_task(tick())
        await stop.wait()
        ticker.cancel()
    finally:
        await bot.stop()
    lag_file.write_text(json.dumps({"lags": lags, "samples": samples}))  # noqa: ASYNC240 - done


# --- the driver ---------------------------------------------------------------------------------


@dataclass
class Report:
    photos: int = 0
    users: int = 0
    model: str = ""
    accepted: int = 0
    stickers: int = 0
    explained: int = 0
    refused_busy: int = 0
    refused_user_limit: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    bot_exit_code: int | None = None
    peak_rss_bot_mb: float = 0.0
    peak_rss_model_mb: float = 0.0
    peak_rss_total_mb: float = 0.0
    loop_lag_busy_ms: dict[str, float] = field(default_factory=dict)
    healthz_ms: dict[str, float] = field(default_factory=dict)
    healthz_failures: int = 0
    throughput_per_s: float = 0.0
    pipeline_ms: float = 0.0
    throughput_ratio: float = 0.0
    throughput_jobs: int = 0

    @property
    def correct(self) -> bool:
        return not self.problems and self.bot_exit_code == 0


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]

    return {"p50": rank(50), "p99": rank(99), "max": ordered[-1], "n": float(len(ordered))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HealthProbe(threading.Thread):
    """GET /healthz every 50 ms from a thread of its own (the driver's loop is busy sending)."""

    def __init__(self, port: int) -> None:
        super().__init__(name="healthz", daemon=True)
        self.port = port
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEALTHZ_EVERY_S):
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                status = connection.getresponse().status
                connection.close()
            except OSError:
                self.failures += 1
                continue
            if status != 200:
                self.failures += 1
            self.latencies_ms.append((time.perf_counter() - started) * 1000)


class RssProbe(threading.Thread):
    """Peak resident memory of a process and its descendants (from /proc, Linux)."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.peak_kb: dict[int, int] = {}
        self.peak_total_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(RSS_EVERY_S):
            self.sample()

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            status = _proc_status(pid)
            if not status:
                continue
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), status.get("VmHWM", 0))
            total += status.get("VmRSS", 0)
        self.peak_total_kb = max(self.peak_total_kb, total)

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = int(fields[1])
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree


def _proc_status(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0])
    return values


def load_plan(photos: int, users: int, burst: int) -> list[list[tuple[int, str]]]:
    """Bursts of (user, kind): first up to QUEUE_MAX cats from distinct users; then mixed
    bursts that open with a few greedy users sending more than they may have pending at once,
    the rest of each burst going round all users."""
    ids = [1000 + i for i in range(users)]
    first = min(photos, QUEUE_MAX, users * PENDING_PER_USER)
    plan = [[(ids[i % users], "cat") for i in range(first)]]
    kinds = itertools.cycle(["cat", "empty"] + ["cat", "dog"] * 4)
    greedy = [user for user in ids[:GREEDY_USERS] for _ in range(PENDING_PER_USER + 2)]
    pool = itertools.cycle(ids)
    left = photos - first
    while left > 0:
        size = min(burst, left)
        users_of_burst = (greedy + [next(pool) for _ in range(size)])[:size]
        plan.append([(user, next(kinds)) for user in users_of_burst])
        left -= size
    return plan


def build_photos(real: bool) -> dict[str, bytes]:
    """For the stand-in: its red disk ("cat") and green square ("dog"); for a real model:
    real photos shipped with scikit-image (a cat, a person, a cup of coffee)."""
    if real:
        import io

        from PIL import Image
        from skimage import data

        def jpeg(rgb: Any) -> bytes:
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
            return buffer.getvalue()

        shipped = {"cat": "chelsea", "dog": "astronaut", "empty": "coffee"}
        return {kind: jpeg(getattr(data, name)()) for kind, name in shipped.items()}

    from tests.bot.botkit import photo

    return {
        "cat": photo(size=PHOTO_SIZE),
        "dog": photo(cat=True, dog=True, size=PHOTO_SIZE),
        "empty": photo(cat=False, size=PHOTO_SIZE),
    }


def verify(emu: Any, sent: list[tuple[int, int]], report: Report) -> None:
    """Check the emulator's record: each photo answered once or refused once, nothing lost."""
    documents: Counter[tuple[Any, Any]] = Counter()
    stickers: Counter[tuple[Any, Any]] = Counter()
    explanations: Counter[tuple[Any, Any]] = Counter()
    refusals: Counter[int] = Counter()
    queued: Counter[int] = Counter()
    for call in emu.calls:
        if not call.ok:
            continue
        chat = call.params.get("chat_id")
        replied = (call.params.get("reply_parameters") or {}).get("message_id")
        text = str(call.params.get("text", ""))
        if call.method == "sendDocument":
            documents[(chat, replied)] += 1
        elif call.method == "sendSticker":
            stickers[(chat, replied)] += 1
        elif call.method == "sendMessage":
            if text.startswith(QUEUED_TEXT):
                queued[chat] += 1
            elif text.startswith(BUSY_TEXT):
                refusals[chat] += 1
                report.refused_busy += 1
            elif text.startswith(USER_LIMIT_TEXT):
                refusals[chat] += 1
                report.refused_user_limit += 1
            elif replied is not None:
                explanations[(chat, replied)] += 1
    per_user: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    for key in sent:
        user = key[0]
        per_user[user] += 1
        answers = documents[key] + explanations[key]
        if answers:
            answered[user] += 1
        if answers > 1 or stickers[key] > documents[key]:
            report.duplicated += 1
            report.problems.append(
                f"photo {key}: {documents[key]} document(s), {stickers[key]} sticker(s), "
                f"{explanations[key]} explanation(s)"
            )
        report.stickers += documents[key] == 1 and stickers[key] == 1
        report.explained += explanations[key] == 1 and not documents[key]
    for user, count in per_user.items():
        unanswered = count - answered[user]
        if unanswered > refusals[user]:
            report.lost += unanswered - refusals[user]
            report.problems.append(
                f"user {user}: {unanswered - refusals[user]} photo(s) neither answered nor refused"
            )
        elif unanswered < refusals[user]:
            report.duplicated += refusals[user] - unanswered
            report.problems.append(f"user {user}: refused more often than photos were left")
        if queued[user] != answered[user]:
            report.problems.append(
                f"user {user}: {queued[user]} 'Queued' for {answered[user]} answered photo(s)"
            )
    report.accepted = sum(answered.values())
    if sum(documents.values()) != sum(stickers.values()):
        report.problems.append("documents and stickers differ in number")


def settled(emu: Any, sent: list[tuple[int, int]]) -> bool:
    """Every photo has its answer or a refusal (by count), and no status edit is pending."""
    report = Report()
    verify(emu, sent, report)
    return report.accepted + report.refused_busy + report.refused_user_limit >= len(sent)


def throughput(samples: list[list[float]], report: Report, until: float) -> None:
    """Stickers/s while the queue was never empty during the first burst (nothing else going
    on), and the pipeline's own time per job meanwhile."""
    best: tuple[int, int] | None = None
    start = None
    for index, (at, done, depth, _, _) in enumerate(samples):
        if depth > 0 and done > 0 and at <= until:
            start = index if start is None else start
            if best is None or index - start > best[1] - best[0]:
                best = (start, index)
        else:
            start = None
    if best is None:
        return
    first, last = samples[best[0]], samples[best[1]]
    jobs = int(last[1] - first[1])
    computed = last[4] - first[4]
    if jobs < 2 or computed < 1:
        return
    report.throughput_jobs = jobs
    report.throughput_per_s = jobs / (last[0] - first[0])
    report.pipeline_ms = (last[3] - first[3]) / computed * 1000
    report.throughput_ratio = report.throughput_per_s * report.pipeline_ms / 1000


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


def render(report: Report) -> str:
    def fmt(values: dict[str, float]) -> str:
        if not values:
            return "n/a"
        return f"p50 {values['p50']:.1f} / p99 {values['p99']:.1f} / max {values['max']:.1f} ms"

    verdict = "OK" if report.correct else "FAILED"
    lines = [
        f"load: {report.photos} photos from {report.users} users, model {report.model}, "
        f"{report.wall_s:.1f} s",
        f"answers: {report.accepted} accepted = {report.stickers} stickers + "
        f"{report.explained} explanations; refused: {report.refused_busy} busy, "
        f"{report.refused_user_limit} over the per-user limit; lost {report.lost}, "
        f"duplicated {report.duplicated} -> {verdict}",
        f"peak RSS: bot {report.peak_rss_bot_mb:.0f} MB, model process "
        f"{report.peak_rss_model_mb:.0f} MB, together {report.peak_rss_total_mb:.0f} MB",
        f"event-loop lag while jobs run: {fmt(report.loop_lag_busy_ms)} (target p99 < 100 ms)",
        f"/healthz under load: {fmt(report.healthz_ms)}, {report.healthz_failures} failed",
    ]
    if report.throughput_jobs:
        lines.append(
            f"throughput with a full queue: {report.throughput_per_s:.2f} stickers/s over "
            f"{report.throughput_jobs} jobs; pipeline {report.pipeline_ms:.0f} ms/job -> "
            f"{report.throughput_ratio:.2f}x of 1/(model + post-processing) (target >= 0.95)"
        )
    else:
        lines.append("throughput: the queue was never full long enough to measure")
    lines += [f"problem: {problem}" for problem in report.problems[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=doc.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=500, help="photos in all (default 500)")
    parser.add_argument("--users", type=int, default=100, help="distinct users (default 100)")
    parser.add_argument("--burst", type=int, default=100, help="photos a burst (default 100)")
    parser.add_argument(
        "--gap", type=float, default=BURST_GAP_S, help="seconds between later bursts (default 8)"
    )
    parser.add_argument("--model", help="a .tflite model (default: the fast colour stand-in)")
    parser.add_argument(
        "--thread", action="store_true", help="run the model in a thread of the bot process"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    scale = parser.add_argument_group(
        "scaling out (bench.scale: the queue alone, N worker processes)"
    )
    scale.add_argument(
        "--queue", choices=("sqlite", "redis"), help="measure this queue instead of the bot"
    )
    scale.add_argument(
        "--workers", default="1,2,4,8", help="worker counts, comma-separated (default 1,2,4,8)"
    )
    scale.add_argument("--jobs", type=int, default=30, help="jobs per worker (default 30)")
    scale.add_argument(
        "--service-ms", type=float, default=200.0, help="stand-in model's time (default 200)"
    )
    scale.add_argument("--overhead-jobs", type=int, default=100, help="jobs one at a time")
    parser.add_argument("--serve", type=Path, metavar="LAG_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.model))
        return 0
    if args.queue is not None:
        from bench.scale import measure

        print("\n".join(asyncio.run(measure(args))))
        return 0
    if args.photos < 1 or args.users < 1 or args.burst < 1 or args.gap < 0:
        parser.error("--photos, --users and --burst must be positive, --gap not negative")
    report = asyncio.run(drive(args))
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))
    return 0 if report.correct else 1
