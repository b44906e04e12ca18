"""The load script (``python -m bench.load``) on a tiny load, so that it keeps working: the
answers are checked (none lost, none duplicated, refusals told); timings are not."""

from __future__ import annotations

import argparse

from bench.load import drive, render


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
