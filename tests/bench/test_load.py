"""The load script (``python -m bench.load``) on a tiny load, so that it keeps working: the
answers are checked (none lost, none duplicated, refusals told); timings are not."""

from __future__ import annotations

import argparse

import pytest

from bench.load import drive, render
from tests.redis_server import REDIS_SERVER, SKIP_REASON


async def test_a_small_load_is_answered_exactly_once() -> None:
    args = argparse.Namespace(photos=20, users=4, burst=8, gap=0.2, model=None, thread=True)
    report = await drive(args)
    assert report.problems == [], render(report)
    assert report.bot_exit_code == 0
    assert report.lost == 0
    assert report.duplicated == 0
    # 4 users x 3 in the first burst; then a greedy user sends 5 at once (2 refused), with a
    # photo of nothing among them (explained).
    assert report.accepted + report.refused_busy + report.refused_user_limit == 20
    assert report.refused_user_limit >= 1
    assert report.stickers >= 1
    assert report.explained >= 1


@pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)
async def test_the_scale_out_benchmark_runs_on_a_tiny_load() -> None:
    """``python -m bench.load --queue redis`` (it starts its own redis-server)."""
    from bench.scale import measure

    args = argparse.Namespace(
        queue="redis", workers="1,2", jobs=3, service_ms=20.0, overhead_jobs=3, model=None
    )
    lines = await measure(args)
    rows = [line for line in lines if line.startswith("| redis |") or line.startswith("| sqlite")]
    # Two throughput rows (1 and 2 workers: 3 and 6 jobs), then the overhead of each queue.
    assert [row.split("|")[1:4] for row in rows[:2]] == [
        [" redis ", " 1 ", " 3 "],
        [" redis ", " 2 ", " 6 "],
    ]
    assert [row.split("|")[1].strip() for row in rows[2:]] == ["redis", "sqlite"]
    assert lines[0].startswith("CPU: ")
