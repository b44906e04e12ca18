"""The Prometheus text exposition format (0.0.4) of the bot's statistics, written by hand:
three metric families do not justify a dependency."""

from __future__ import annotations

from bot.stats import STAGES, Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "stickerbot"


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]


def render(stats: Stats, *, queue_depth: int, in_progress: int, ready: bool) -> str:
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
    return "\n".join(lines) + "\n"
