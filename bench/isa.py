"""An AVX2-only CPU emulated on a bigger one: the environment that caps each engine's kernels
to an instruction set, and the checks that the cap took effect.

* :func:`capped_env` -- ``ONEDNN_MAX_CPU_ISA`` (oneDNN: OpenVINO's CPU plugin, TensorFlow's
  oneDNN ops and the oneDNN sgemm behind its Eigen contractions), ``OV_CPU_MAX_ISA``
  (OpenVINO's own JIT kernels, in builds that honour it), XLA's ``--xla_cpu_max_isa``
  (the project's compiled fc6-fc8 path) and ``OPENBLAS_CORETYPE`` (NumPy's GEMM probe).
  LiteRT's XNNPACK picks its kernels from cpuinfo's flags with no runtime cap (only a
  rebuild removes ISAs), so the TFLite engines are left out of a capped run.
* :func:`isa_of` / :func:`highest_isa` -- the instruction set named by an OpenVINO runtime
  model's ``execType`` (``brgconv_avx512_1x1``, ``jit_avx2``, ``brgemm_avx512_amx``...) or a
  oneDNN verbose implementation (``brg_conv_fwd:avx2``, ``jit:avx512_core``);
* :func:`onednn_verbose_isas` -- what a ``ONEDNN_VERBOSE=1`` log says oneDNN ran.

An emulation is not an AVX2-only CPU: the memory system, caches, clock (no AVX-512 frequency
licence effects) and core count stay this machine's, and code paths that choose by CPU
flags rather than through these caps still see AVX-512 (:data:`EMULATION_CAVEAT`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

# The caps this benchmark can ask for, in oneDNN's spelling.
CAPS: Final = {"avx2": "AVX2", "avx2_vnni": "AVX2_VNNI"}

# Instruction sets from weakest to strongest; a kernel name maps to the strongest it names.
ISA_ORDER: Final = ("sse41", "avx", "avx2", "avx512", "amx")

EMULATION_CAVEAT: Final = (
    "AVX2 cap on an AVX-512 CPU, an emulation: not the same as a real AVX2-only CPU -- same "
    "caches, memory and core count, no AVX-512 frequency effects, and anything that picks "
    "kernels from the CPU flags instead of these caps (LiteRT/XNNPACK: left out) still sees "
    "AVX-512"
)

# OpenVINO layer types whose execType decides the FLOP-heavy work.
COMPUTE_LAYERS: Final = frozenset(
    {"Convolution", "FullyConnected", "MatMul", "Deconvolution", "GroupConvolution"}
)

_TOKENS: Final = (
    ("amx", re.compile(r"amx")),
    ("avx512", re.compile(r"avx512|avx_512|avx-512")),
    ("avx2", re.compile(r"avx2|avx_vnni")),
    ("avx", re.compile(r"avx")),
    ("sse41", re.compile(r"sse4")),
)


def capped_env(isa: str, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus the variables that cap oneDNN, OpenVINO and XLA to ``isa``."""
    if isa not in CAPS:
        raise ValueError(f"the ISA cap must be one of {', '.join(CAPS)}; got {isa!r}")
    env = dict(base)
    name = CAPS[isa]
    env["ONEDNN_MAX_CPU_ISA"] = name
    env["DNNL_MAX_CPU_ISA"] = name  # oneDNN before v2.5 (older TensorFlow builds)
    env["OV_CPU_MAX_ISA"] = name  # OpenVINO's own kernels; set with oneDNN's, as it asks
    # NumPy's OpenBLAS (a DYNAMIC_ARCH build) picks its kernels by CPU model: Haswell's are
    # its AVX2/FMA ones.
    env["OPENBLAS_CORETYPE"] = "Haswell"
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_max_isa")]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_cpu_max_isa={name}"])
    return env


def openblas_core() -> str:
    """The kernel set NumPy's OpenBLAS runs (``Haswell``, ``SkylakeX``...; ``""`` when
    threadpoolctl, which reads it, is not installed)."""
    try:
        import threadpoolctl  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return ""
    for info in threadpoolctl.threadpool_info():
        if info.get("internal_api") == "openblas":
            return str(info.get("architecture", ""))
    return ""


def isa_of(kernel: str) -> str:
    """The strongest instruction set ``kernel`` (an execType or oneDNN implementation name)
    names: one of :data:`ISA_ORDER`, or ``""`` when it names none (``ref_any``, ``gemm:jit``,
    ``jit_uni``...)."""
    text = kernel.lower()
    for isa, pattern in _TOKENS:
        if pattern.search(text):
            return isa
    return ""


def highest_isa(kernels: Iterable[str]) -> str:
    """The strongest instruction set among ``kernels`` (``""`` when none names one)."""
    found = {isa_of(k) for k in kernels} - {""}
    return max(found, key=ISA_ORDER.index) if found else ""


def within(kernels: Iterable[str], isa: str) -> list[str]:
    """The kernels that exceed the cap ``isa`` (e.g. ``avx2``): empty when the cap held."""
    limit = ISA_ORDER.index("avx2" if isa.startswith("avx2") else isa)
    return [k for k in kernels if isa_of(k) and ISA_ORDER.index(isa_of(k)) > limit]


def runtime_nodes(compiled: object) -> list[tuple[str, str, str]]:
    """(layer type, kernel, runtime precision) of every node of a compiled OpenVINO model's
    runtime graph; the kernel is the node's ``primitiveType`` (``execType`` in older
    releases), e.g. ``brgconv_avx512_bf16``."""
    nodes = []
    for op in compiled.get_runtime_model().get_ordered_ops():  # type: ignore[attr-defined]
        info = op.get_rt_info()
        values = {k: str(info[k].astype(str)) for k in info}
        nodes.append(
            (
                values.get("layerType", op.get_type_name()),
                values.get("primitiveType", values.get("execType", "")),
                values.get("runtimePrecision", ""),
            )
        )
    return nodes


def compute_kernels(nodes: Iterable[tuple[str, str, str]]) -> list[str]:
    """The kernels of the FLOP-heavy nodes only (:data:`COMPUTE_LAYERS`)."""
    return [kernel for layer, kernel, _ in nodes if layer in COMPUTE_LAYERS]


def cap_verdict(kernels: Iterable[str], isa: str) -> str:
    """One line: whether every kernel stayed within the cap ``isa``, which exceeded it, and
    which name no instruction set (their ISA cannot be read back)."""
    kernels = list(kernels)
    over = sorted(set(within(kernels, isa)))
    unnamed = sorted({k for k in kernels if not isa_of(k)})
    seen = sorted({k for k in kernels if isa_of(k)})
    verdict = f"cap {isa}: " + ("HELD" if not over else "NOT held: " + ", ".join(over))
    verdict += f" (kernels: {', '.join(seen) or 'none named'}"
    if unnamed:
        verdict += f"; no ISA in the name, not verified: {', '.join(unnamed)}"
    return verdict + ")"


def onednn_verbose_isas(log: str) -> tuple[str, dict[str, list[str]]]:
    """From a ``ONEDNN_VERBOSE=1`` log: the ISA line oneDNN reports (``Intel AVX2``...) and,
    per primitive kind, the implementations it executed."""
    reported = ""
    executed: dict[str, list[str]] = {}
    for line in log.splitlines():
        if not line.startswith(("onednn_verbose", "dnnl_verbose")):
            continue
        fields = line.split(",")
        if "isa:" in line and "info" in fields:
            reported = line.split("isa:", 1)[1].strip()
        elif "exec" in fields:
            at = fields.index("exec")
            # exec,cpu,KIND,IMPLEMENTATION,...
            if len(fields) > at + 3 and fields[at + 1] == "cpu":
                executed.setdefault(fields[at + 2], []).append(fields[at + 3])
    return reported, executed


def reported_isa(text: str) -> str:
    """oneDNN's reported ISA line (``Intel AVX-512 with AVX512BW...``) as one of
    :data:`ISA_ORDER`."""
    lowered = text.lower()
    if "amx" in lowered:
        return "amx"
    if "avx-512" in lowered or "avx512" in lowered:
        return "avx512"
    if "avx2" in lowered:
        return "avx2"
    return isa_of(text)


# Run in a child under the capped environment: one convolution and one matmul through
# TensorFlow, so that oneDNN reports the ISA it dispatches to.
_TF_PROBE: Final = """
import numpy as np, tensorflow as tf
x = tf.constant(np.ones((1, 32, 32, 64), np.float32))
w = tf.constant(np.ones((3, 3, 64, 64), np.float32))
tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))()
tf.function(lambda: tf.matmul(tf.reshape(x, (1024, 64)), tf.reshape(w[0, 0], (64, 64))))()
from segmentation.kernels import dense_head  # the XLA-compiled fc6-fc8
c = lambda *shape: tf.constant(np.full(shape, 0.01, np.float32))
dense_head(c(1, 8, 8, 64), c(7, 7, 64, 128), c(128), c(1, 1, 128, 128), c(128), c(1, 1, 128, 21),
           c(21))
"""


def tensorflow_onednn_log(
    env: Mapping[str, str], python: str, xla_dump: str | None = None
) -> str:
    """``ONEDNN_VERBOSE=1`` output of a small TensorFlow convolution, matmul and the
    project's XLA-compiled dense head run by ``python`` in ``env`` (XLA's objects dumped
    into ``xla_dump`` when given)."""
    import subprocess

    child = {**env, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if xla_dump:
        child["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_dump_to={xla_dump}".strip()
    result = subprocess.run(
        [python, "-c", _TF_PROBE], env=child, capture_output=True, text=True, check=False,
        timeout=300,
    )
    return result.stdout + result.stderr


def zmm_uses(disassembly: str) -> int:
    """Instructions that touch a 512-bit register in ``objdump -d`` output."""
    return sum(1 for line in disassembly.splitlines() if re.search(r"%zmm\d+", line))


def xla_zmm_uses(dump: str) -> int | None:
    """512-bit register uses in the objects XLA compiled into ``dump`` (``None`` without
    ``objdump`` or objects)."""
    import shutil
    import subprocess
    from pathlib import Path

    objdump = shutil.which("objdump")
    objects = sorted(Path(dump).glob("*.o"))
    if objdump is None or not objects:
        return None
    text = subprocess.run(
        [objdump, "-d", *map(str, objects)], capture_output=True, text=True, check=False
    ).stdout
    return zmm_uses(text)
