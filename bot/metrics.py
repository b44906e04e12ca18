"""The Prometheus text exposition format (0.0.4) of the bot's statistics, written by hand:
three metric families do not justify a dependency."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.queue import WorkerStatus
from bot.stats import STAGES, Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "stickerbot"


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]


def render(
    stats: Stats,
    *,
    queue_depth: int,
    in_progress: int,
    ready: bool,
    workers: Sequence[WorkerStatus] = (),
    in_flight: int | None = None,
) -> str:
    lines = _family("up", "gauge", "1 when the model and the worker are ready.")
    lines.append(f"{PREFIX}_up {int(ready)}")
    lines += _family("uptime_seconds", "gauge", "Seconds since the bot started.")
    lines.append(f"{PREFIX}_uptime_seconds {stats.uptime_s:.3f}")
    lines += _family("queue_depth", "gauge", "Accepted photos waiting for the model.")
    lines.append(f"{PREFIX}_queue_depth {queue_depth}")
    lines += _family("jobs_in_progress", "gauge", "Photos taken from the queue, not answered.")
    lines.append(f"{PREFIX}_jobs_in_progress {in_progress}")
    lines += _family("jobs_total", "counter", "Finished jobs by outcome.")
    lines += [
        f'{PREFIX}_jobs_total{{outcome="{name}"}} {count}'
        for name, count in sorted(stats.outcomes.items())
    ]
    lines += _family("rejected_total", "counter", "Messages refused, by reason.")
    lines += [
        f'{PREFIX}_rejected_total{{reason="{name}"}} {count}'
        for name, count in sorted(stats.rejected.items())
    ]
    lines += _family("stage_seconds", "histogram", "Latency of each stage of a job.")
    for stage in STAGES:
        histogram = stats.histograms[stage]
        lines += [
            f'{PREFIX}_stage_seconds_bucket{{stage="{stage}",le="{bound}"}} {count}'
            for bound, count in histogram.cumulative()
        ]
        lines.append(f'{PREFIX}_stage_seconds_sum{{stage="{stage}"}} {histogram.total:.6f}')
        lines.append(f'{PREFIX}_stage_seconds_count{{stage="{stage}"}} {histogram.count}')
    if in_flight is not None:
        lines += _family("queue_in_flight", "gauge", "Jobs in Redis (QUEUE_URL): job or result.")
        lines.append(f"{PREFIX}_queue_in_flight {in_flight}")
    lines += _workers(workers)
    return "\n".join(lines) + "\n"


def _workers(workers: Sequence[WorkerStatus]) -> list[str]:
    """Remote workers (QUEUE_URL set): how many are alive, and each one's heartbeat."""
    lines = _family("workers_alive", "gauge", "Workers whose heartbeat is recent.")
    lines.append(f"{PREFIX}_workers_alive {sum(w.alive for w in workers)}")
    families: tuple[tuple[str, str, str, Callable[[WorkerStatus], str]], ...] = (
        (
            "worker_last_seen_seconds",
            "gauge",
            "Seconds since the worker's last heartbeat.",
            lambda w: f"{w.last_seen_s:.3f}",
        ),
        ("worker_jobs_total", "counter", "Jobs the worker computed.", lambda w: str(w.done)),
        (
            "worker_redeliveries_total",
            "counter",
            "Jobs the worker took over from another.",
            lambda w: str(w.redelivered),
        ),
    )
    for name, kind, help_text, value in families:
        lines += _family(name, kind, help_text)
        lines += [f'{PREFIX}_{name}{{worker="{w.name}"}} {value(w)}' for w in workers]
    return lines
