"""The theoretical peak of this CPU per precision, printed beside the probes' best rate.

peak = cores x FLOPs per cycle and core x clock, where FLOPs per cycle come from the core's
vector units (:class:`CoreModel`): ``fma_units`` fused multiply-add pipes, each
``fma_bits`` wide (2 FLOPs per fp32 lane); bf16 and int8 from the dot-product instructions
the core has (AVX512-BF16 ``vdpbf16ps``: 2 products per fp32 lane, i.e. 2x fp32; VNNI
``vpdpbusd``: 4 per int32 lane, 4x; AVX2 without VNNI: ``vpmaddubsw`` + ``vpmaddwd``, 2x;
AMX: 1024 bf16 / 2048 int8 ops per cycle and core), each assumed to issue at the FMA rate,
as the vendors' optimisation manuals and instruction tables give for the cores listed.

The clock is the weakest input: Linux's cpufreq maximum where the kernel exposes it, else
``/proc/cpuinfo``'s ``cpu MHz`` (in a VM, what the hypervisor reports: usually the nominal
clock, not the boost clock, so a probe may exceed the "peak"); :func:`implied_ghz` turns a
measured rate back into the clock it would need.

An ISA cap (``bench --isa avx2``) narrows the model: 256-bit vectors, no AVX-512 dot
products (:meth:`CoreModel.capped`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

# Ops per cycle and core of Intel AMX (TMUL: a 16x16x32 bf16 / 16x16x64 int8 tile product
# every 16 cycles).
AMX_BF16_OPS: Final = 1024
AMX_INT8_OPS: Final = 2048

# Rate of a dot-product path relative to fp32 FMAs of the same width (see the module doc).
BF16_DOT_FACTOR: Final = 2.0
VNNI_FACTOR: Final = 4.0
NO_VNNI_INT8_FACTOR: Final = 2.0

PRECISIONS: Final = ("fp32", "bf16", "int8")

CPUFREQ_MAX: Final = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
CPUINFO: Final = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CoreModel:
    """A core's vector arithmetic: what the peak is computed from."""

    name: str
    fma_units: int
    fma_bits: int
    bf16: str  # "dot" (AVX512-BF16), "amx", or "" (converted to fp32: the fp32 rate)
    int8: str  # "amx", "vnni", or "" (vpmaddubsw + vpmaddwd)

    def flops_per_cycle(self, precision: str) -> float:
        """FLOPs (int8: ops) per cycle and core at ``precision``."""
        fp32 = self.fma_units * (self.fma_bits // 32) * 2.0
        if precision == "fp32":
            return fp32
        if precision == "bf16":
            return {"amx": AMX_BF16_OPS, "dot": BF16_DOT_FACTOR * fp32}.get(self.bf16, fp32)
        if precision == "int8":
            factor = {"vnni": VNNI_FACTOR * fp32, "amx": AMX_INT8_OPS}
            return factor.get(self.int8, NO_VNNI_INT8_FACTOR * fp32)
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")

    def capped(self, isa: str) -> CoreModel:
        """The same core with code limited to ``isa`` (``avx2``: 256-bit, no AVX-512 dot
        products or AMX; ``avx2_vnni`` keeps VNNI on 256-bit vectors)."""
        if isa in ("", "none"):
            return self
        if isa not in ("avx2", "avx2_vnni"):
            raise ValueError(f"only the avx2 and avx2_vnni caps are modelled; got {isa!r}")
        int8 = "vnni" if isa == "avx2_vnni" and self.int8 in ("vnni", "amx") else ""
        return replace(
            self, name=f"{self.name}, capped to {isa}", fma_bits=min(self.fma_bits, 256),
            bf16="", int8=int8,
        )


@dataclass(frozen=True)
class CpuId:
    """What /proc/cpuinfo says about the first core."""

    vendor: str
    family: int
    model: int
    flags: frozenset[str]


def read_cpuid(text: str | None = None) -> CpuId:
    """Parse ``/proc/cpuinfo`` (or ``text``); unknown fields come back empty or 0."""
    if text is None:
        try:
            text = CPUINFO.read_text()
        except OSError:
            text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor only
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return CpuId(
        vendor=fields.get("vendor_id", ""),
        family=_int(fields.get("cpu family", "")),
        model=_int(fields.get("model", "")),
        flags=frozenset(fields.get("flags", "").split()),
    )


def core_model(cpu: CpuId) -> CoreModel:
    """The vector units of ``cpu``'s cores, from vendor, family and flags.

    AMD: Zen 1 two 128-bit FMA pipes, Zen 2-4 two 256-bit (Zen 4 runs AVX-512 as two
    halves), Zen 5 (family 26) two 512-bit. Intel with AVX-512: two 512-bit FMA units (server
    Xeons; some parts have one: the peak is then 2x too high); AVX2 Intel: two 256-bit.
    """
    flags = cpu.flags
    bf16 = "amx" if "amx_bf16" in flags else "dot" if "avx512_bf16" in flags else ""
    int8 = (
        "amx" if "amx_int8" in flags
        else "vnni" if {"avx512_vnni", "avx_vnni"} & flags
        else ""
    )
    has_fma = "fma" in flags
    if cpu.vendor == "AuthenticAMD":
        if cpu.family >= 26:
            return CoreModel("AMD Zen 5", 2, 512 if "avx512f" in flags else 256, bf16, int8)
        if cpu.family == 25:
            name = "AMD Zen 4" if "avx512f" in flags else "AMD Zen 3"
            return CoreModel(name, 2, 256, bf16, int8)
        if cpu.family == 23:
            zen2 = cpu.model >= 0x30
            return CoreModel("AMD Zen 2" if zen2 else "AMD Zen 1", 2, 256 if zen2 else 128, "", "")
    if "avx512f" in flags:
        return CoreModel("Intel AVX-512 (2 FMA units assumed)", 2, 512, bf16, int8)
    if has_fma and "avx2" in flags:
        return CoreModel("x86 AVX2/FMA", 2, 256, bf16, int8)
    return CoreModel("unknown (SSE: 2 x 128-bit multiply/add assumed)", 1, 128, "", "")


@dataclass(frozen=True)
class Clock:
    ghz: float
    source: str


def read_clock(cpuinfo: str | None = None, cpufreq_max_khz: str | None = None) -> Clock | None:
    """The clock the peak is computed at: cpufreq's maximum (kHz) when readable, else
    ``cpu MHz`` of /proc/cpuinfo; ``None`` when neither is known."""
    if cpufreq_max_khz is None:
        try:
            cpufreq_max_khz = CPUFREQ_MAX.read_text()
        except OSError:
            cpufreq_max_khz = ""
    if cpufreq_max_khz.strip():
        return Clock(_int(cpufreq_max_khz) / 1e6, "cpufreq cpuinfo_max_freq (boost maximum)")
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("cpu MHz"):
            mhz = float(line.split(":", 1)[1])
            return Clock(
                mhz / 1e3,
                "/proc/cpuinfo 'cpu MHz' (no cpufreq: in a VM the hypervisor's figure, "
                "usually nominal, not boost)",
            )
    return None


def peak_gflops(core: CoreModel, cores: int, ghz: float, precision: str) -> float:
    """Theoretical peak in GFLOP/s (int8: GOP/s): cores x FLOPs per cycle x GHz."""
    return cores * core.flops_per_cycle(precision) * ghz


def implied_ghz(core: CoreModel, cores: int, gflops: float, precision: str) -> float:
    """The clock at which ``gflops`` would be exactly the peak."""
    return gflops / (cores * core.flops_per_cycle(precision))


def _int(text: str) -> int:
    try:
        return int(text.strip(), 0) if text.strip().startswith("0x") else int(text.strip())
    except ValueError:
        return 0


def physical_cores(text: str | None = None) -> int:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo (SMT siblings count once);
    the logical CPU count when the file says nothing."""
    import os

    if text is None:
        try:
            text = CPUINFO.read_text()
        except OSError:
            text = ""
    pairs: set[tuple[str, str]] = set()
    package = core = ""
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip() and core:
            pairs.add((package, core))
            package = core = ""
    return len(pairs) or os.cpu_count() or 1
