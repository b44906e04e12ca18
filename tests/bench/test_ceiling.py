"""The theoretical peak: core models from /proc/cpuinfo, the formula, the clock's source."""

from __future__ import annotations

import pytest

from bench.ceiling import (
    CoreModel,
    core_model,
    implied_ghz,
    peak_gflops,
    physical_cores,
    read_clock,
    read_cpuid,
)

# Recorded from this session's machine (trimmed flags), and an AVX2-only AMD of an earlier one.
ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
cpu MHz\t\t: 2596.130
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 fma avx2 avx512f avx512_bf16 avx512_vnni avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
cpu MHz\t\t: 2596.130
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 fma avx2 avx512f avx512_bf16 avx512_vnni avx512bw
"""
ZEN2 = ZEN4.replace("cpu family\t: 25", "cpu family\t: 23").replace("17", "49").replace(
    " avx512f avx512_bf16 avx512_vnni avx512bw", ""
)
SPR = """vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
flags\t\t: fma avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile
"""


def test_zen4_runs_avx512_on_two_256_bit_pipes_with_bf16_and_vnni_dot_products() -> None:
    core = core_model(read_cpuid(ZEN4))
    assert core.name == "AMD Zen 4"
    assert core.flops_per_cycle("fp32") == 2 * 8 * 2
    assert core.flops_per_cycle("bf16") == 2 * core.flops_per_cycle("fp32")
    assert core.flops_per_cycle("int8") == 4 * core.flops_per_cycle("fp32")


def test_peak_is_cores_times_flops_per_cycle_times_clock() -> None:
    core = core_model(read_cpuid(ZEN4))
    clock = read_clock(ZEN4, cpufreq_max_khz="")
    assert clock is not None
    assert clock.ghz == pytest.approx(2.59613)
    assert "cpu MHz" in clock.source
    assert peak_gflops(core, 2, clock.ghz, "fp32") == pytest.approx(2 * 32 * 2.59613)
    # A probe at the peak implies exactly that clock; one above it, a boost clock.
    assert implied_ghz(core, 2, 2 * 32 * 3.5, "fp32") == pytest.approx(3.5)


def test_cpufreq_maximum_wins_over_cpuinfo() -> None:
    clock = read_clock(ZEN4, cpufreq_max_khz="3700000\n")
    assert clock is not None
    assert clock.ghz == pytest.approx(3.7)
    assert "cpufreq" in clock.source
    assert read_clock("", cpufreq_max_khz="") is None


def test_avx2_cap_halves_no_width_on_zen4_but_drops_the_avx512_dot_products() -> None:
    core = core_model(read_cpuid(ZEN4)).capped("avx2")
    # Zen 4's FMA pipes are 256 bits wide: fp32 is unchanged by the cap...
    assert core.flops_per_cycle("fp32") == 32
    # ... bf16 becomes converted fp32, int8 the pre-VNNI vpmaddubsw path.
    assert core.flops_per_cycle("bf16") == 32
    assert core.flops_per_cycle("int8") == 64
    assert core_model(read_cpuid(ZEN4)).capped("avx2_vnni").flops_per_cycle("int8") == 128


def test_intel_avx512_and_amx() -> None:
    core = core_model(read_cpuid(SPR))
    assert core.flops_per_cycle("fp32") == 2 * 16 * 2
    assert core.flops_per_cycle("bf16") == 1024
    assert core.flops_per_cycle("int8") == 2048
    capped = core.capped("avx2")
    assert capped.flops_per_cycle("fp32") == 32
    assert capped.flops_per_cycle("bf16") == 32


def test_zen2_is_avx2_only() -> None:
    core = core_model(read_cpuid(ZEN2))
    assert core.name == "AMD Zen 2"
    assert core.flops_per_cycle("fp32") == 32
    assert core.flops_per_cycle("bf16") == 32  # no native bf16: converted


def test_unknown_precision_and_cap_are_refused() -> None:
    core = CoreModel("x", 2, 256, "", "")
    with pytest.raises(ValueError, match="fp64"):
        core.flops_per_cycle("fp64")
    with pytest.raises(ValueError, match="sse41"):
        core.capped("sse41")


def test_physical_cores_counts_core_ids_not_smt_siblings() -> None:
    assert physical_cores(ZEN4) == 2
    smt = ZEN4 + "\nprocessor\t: 2\nphysical id\t: 0\ncore id\t\t: 0\n"
    assert physical_cores(smt) == 2
