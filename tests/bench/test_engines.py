"""The engines table's arithmetic: interleaved rounds and the whole-machine rate."""

from __future__ import annotations

import pytest

from bench.engines import interleaved, whole_machine_rate


def test_interleaved_runs_each_once_per_round_after_a_warm_up_and_records_cpu_time() -> None:
    calls: list[str] = []
    cpu: dict[str, list[float]] = {}
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, cpu)
    assert calls == ["a", "b"] * 4  # warm-up, then three rounds, alternating
    assert {name: len(samples) for name, samples in times.items()} == {"a": 3, "b": 3}
    assert {name: len(samples) for name, samples in cpu.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for samples in cpu.values() for t in samples)


def test_whole_machine_rate_is_flops_over_the_cpu_time_received_times_the_cores() -> None:
    # 100 GFLOP that got 1 CPU-second on a 2-core machine: 200 GFLOP/s with both cores.
    assert whole_machine_rate(100e9, 1.0, 2) == pytest.approx(200.0)
    assert whole_machine_rate(100e9, 2.0, 2) == pytest.approx(100.0)
