"""In-memory statistics since start-up: outcomes, refusals, users, classes, stage latencies.

Read by ``/stats`` (percentiles over a recent window) and ``/metrics`` (cumulative Prometheus
histograms). Everything is touched from the event loop only, so no locking.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

# The stages of a job, in order; the pipeline's own stages sit between download and send.
STAGES = (
    "queue",
    "download",
    "decode",
    "model",
    "crf",
    "compose",
    "encode",
    "inference",
    "send",
    "end_to_end",
)
# Pipeline timing keys -> our stage names ("total" is the whole make_sticker call).
PIPELINE_STAGES = {
    "decode": "decode",
    "model": "model",
    "crf": "crf",
    "compose": "compose",
    "encode": "encode",
    "total": "inference",
}
# Prometheus histogram bounds, seconds: from a 5 ms CRF to a minute-long queue wait.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# /stats percentiles cover the most recent observations of each stage, not all time.
SAMPLE_WINDOW = 1000
OUTCOMES = ("sticker", "no_object", "failed")
TOP_CLASSES = 5


@dataclass
class Histogram:
    """Cumulative-bucket histogram in seconds (Prometheus semantics)."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound label, observations <= bound), ending with ``+Inf``."""
        labels = [f"{bound:g}" for bound in self.bounds] + ["+Inf"]
        running, out = 0, []
        for label, count in zip(labels, self.counts, strict=True):
            running += count
            out.append((label, running))
        return out


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty collection."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.outcomes: Counter[str] = Counter({name: 0 for name in OUTCOMES})
        self.rejected: Counter[str] = Counter()
        self.users: set[int] = set()
        self.classes: Counter[str] = Counter()
        self.histograms = {stage: Histogram() for stage in STAGES}
        self._samples: dict[str, deque[float]] = {
            stage: deque(maxlen=SAMPLE_WINDOW) for stage in STAGES
        }

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    def accepted(self, user_id: int) -> None:
        self.users.add(user_id)

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def outcome(self, name: str, result_class: str | None = None) -> None:
        self.outcomes[name] += 1
        if result_class:
            self.classes[result_class] += 1

    def observe(self, stage: str, ms: float) -> None:
        self._samples[stage].append(ms)
        self.histograms[stage].observe(ms / 1000)

    def observe_pipeline(self, timings_ms: dict[str, float]) -> None:
        for key, stage in PIPELINE_STAGES.items():
            if key in timings_ms:
                self.observe(stage, timings_ms[key])

    def latencies(self) -> dict[str, tuple[float, float, int]]:
        """Stage -> (p50 ms, p95 ms, observations in the window), stages seen so far."""
        return {
            stage: (percentile(samples, 50), percentile(samples, 95), len(samples))
            for stage, samples in self._samples.items()
            if samples
        }

    def top_classes(self) -> list[tuple[str, int]]:
        return self.classes.most_common(TOP_CLASSES)
