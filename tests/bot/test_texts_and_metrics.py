"""One sentence per failure; statistics, percentiles and the Prometheus exposition."""

from __future__ import annotations

import re

from bot import metrics, texts
from bot.results import ErrorKind, kind_of
from bot.stats import Stats, percentile
from segmentation import errors


def test_every_pipeline_error_has_its_own_kind_and_text() -> None:
    # A dataset error comes from evaluation and training, never from a sticker job.
    subclasses = [c for c in errors.StickerError.__subclasses__() if c is not errors.DatasetError]
    assert len(subclasses) >= 5
    kinds = {
        kind_of(cls("x") if cls is not errors.NoObjectFound else cls("cat", {}))
        for cls in subclasses
    }
    assert ErrorKind.INTERNAL not in kinds
    assert len(kinds) == len(subclasses)
    assert set(ErrorKind) == set(texts.ERROR_TEXTS)
    assert kind_of(RuntimeError("boom")) is ErrorKind.INTERNAL


def test_no_object_text_names_what_was_found() -> None:
    text = texts.no_object("dog", {"cat": 0.31, "person": 0.004})
    assert "dog" in text
    assert "cat (31%)" in text
    assert "person (<1%)" in text
    assert "find" in texts.no_object("auto", {})


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7.0


def test_metrics_exposition() -> None:
    stats = Stats()
    stats.observe("model", 30.0)
    stats.observe("model", 3000.0)
    stats.outcome("sticker", "cat")
    stats.reject("busy")
    text = metrics.render(stats, queue_depth=4, in_progress=1, ready=True)
    assert "stickerbot_queue_depth 4" in text
    assert 'stickerbot_jobs_total{outcome="sticker"} 1' in text
    assert 'stickerbot_rejected_total{reason="busy"} 1' in text
    assert 'stickerbot_stage_seconds_bucket{stage="model",le="0.05"} 1' in text
    assert 'stickerbot_stage_seconds_bucket{stage="model",le="+Inf"} 2' in text
    assert 'stickerbot_stage_seconds_count{stage="model"} 2' in text
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert texts.stats_report(
        uptime_s=3725,
        model="m",
        backend="b",
        device="CPU",
        queue_depth=0,
        in_progress=0,
        outcomes=stats.outcomes,
        rejected=stats.rejected,
        latencies=stats.latencies(),
        users=1,
        top_classes=stats.top_classes(),
    ).startswith("Uptime 1h 02m 05s")
