"""The load test's report: what the driver counted and measured, the statistics it derives
(percentiles, throughput with a full queue), and its rendering as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


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
