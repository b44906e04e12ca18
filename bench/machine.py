"""This machine's ceiling and FCN-8s's arithmetic: what "near the limit" is measured against.

* the ceiling (the best GEMM of the run, fp32 and bf16) is probed in :mod:`bench.engines`,
  interleaved with the engines it bounds;
* :func:`fcn8s_flops` -- FCN-8s's multiply-adds (x2) at a given input size, layer by layer
  from :func:`segmentation.fcn8s.conv_specs`, the fixed transposed convolutions counted as
  executed (dense ``C x C`` kernels);
* :func:`cpu_flags` -- the vector extensions that decide whether bf16/int8 can be fast.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Final

import numpy as np

# Extensions that matter for reduced precision on x86 CPUs.
INTERESTING_FLAGS: Final = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
)


def cpu_flags() -> dict[str, bool]:
    """Which of :data:`INTERESTING_FLAGS` this CPU has (Linux ``/proc/cpuinfo``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return {flag: flag in flags for flag in INTERESTING_FLAGS}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fcn8s_flops(height: int, width: int) -> dict[str, float]:
    """FLOPs (2 x multiply-adds) of each FCN-8s layer for an ``height x width`` input
    (multiples of 32), seed configuration, 21 classes."""
    from segmentation.classes import NUM_CLASSES
    from segmentation.fcn8s import conv_specs

    per_layer: dict[str, float] = {}
    for spec in conv_specs():
        if spec.name.startswith("conv"):
            stride = 2 ** (int(spec.name[4]) - 1)
        else:
            stride = {"pool3_fc": 8, "pool4_fc": 16}.get(spec.name, 32)
        positions = (height // stride) * (width // stride)
        per_layer[spec.name] = 2.0 * positions * float(np.prod(spec.kernel_shape))
    for name, stride, factor in (
        ("upsample_x2_fc8", 32, 2),
        ("upsample_x2_fused", 16, 2),
        ("upsample_x8", 8, 8),
    ):
        positions = (height // stride) * (width // stride)
        per_layer[name] = 2.0 * positions * (2 * factor) ** 2 * NUM_CLASSES**2
    return per_layer
