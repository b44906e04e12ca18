"""The ISA cap: its environment, and reading back which kernels ran (recorded samples)."""

from __future__ import annotations

import pytest

from bench.isa import (
    cap_verdict,
    capped_env,
    compute_kernels,
    highest_isa,
    isa_of,
    onednn_verbose_isas,
    reported_isa,
    within,
    zmm_uses,
)

# OpenVINO 2026.4 runtime-model nodes (layer, primitiveType, runtimePrecision) recorded on this
# session's AMD EPYC (AVX-512 BF16/VNNI), uncapped and with ONEDNN_MAX_CPU_ISA=AVX2.
UNCAPPED = [
    ("Subgraph", "jit_avx512_f32", "f32"),
    ("FullyConnected", "brgemm_avx512_I8", "u8"),
    ("Reorder", "jit_uni_f32", "f32"),
    ("FullyConnected", "brgemm_avx512_bf16", "bf16"),
    ("Convolution", "brgconv_avx512_bf16", "bf16"),
]
CAPPED = [
    ("Subgraph", "jit_avx2_f32", "f32"),
    ("FullyConnected", "jit_gemm_I8", "u8"),
    ("FullyConnected", "gemm_mlas_f32", "f32"),
    ("Reorder", "jit_uni_f32", "f32"),
    ("Convolution", "brgconv_avx2_f32", "f32"),
]
# TensorFlow 2.21's oneDNN (ONEDNN_VERBOSE=1), recorded uncapped and capped.
VERBOSE_UNCAPPED = """onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)
onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2
onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support
onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32
onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ab:f0,,,4096x256:256x256,5.75
"""
VERBOSE_CAPPED = """onednn_verbose,v1,info,cpu,isa:Intel AVX2
onednn_verbose,v1,primitive,exec,cpu,convolution,x64:gemm:jit,forward_training,src:f32
"""


def test_capped_env_sets_every_library_cap_and_keeps_other_xla_flags() -> None:
    env = capped_env("avx2", {"PATH": "/bin", "XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["OV_CPU_MAX_ISA"] == "AVX2"  # OpenVINO wants both set to the same value
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", "--xla_cpu_max_isa=AVX2"]
    assert env["PATH"] == "/bin"
    again = capped_env("avx2_vnni", env)
    assert again["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", "--xla_cpu_max_isa=AVX2_VNNI"]
    with pytest.raises(ValueError, match="avx512"):
        capped_env("avx512", {})


@pytest.mark.parametrize(
    ("kernel", "isa"),
    [
        ("brgconv_avx512_bf16", "avx512"),
        ("brgconv_avx512_1x1_I8", "avx512"),
        ("brgemm_avx512_amx_bf16", "amx"),
        ("jit_avx2_1x1_f32", "avx2"),
        ("brg_conv_fwd:avx512_core", "avx512"),
        ("jit:avx2_vnni", "avx2"),
        ("jit_avx_f32", "avx"),
        ("jit_sse41", "sse41"),
        ("gemm_mlas_f32", ""),
        ("jit_uni_f32", ""),
        ("ref_any", ""),
    ],
)
def test_isa_of_kernel_names(kernel: str, isa: str) -> None:
    assert isa_of(kernel) == isa


def test_recorded_openvino_graphs_give_the_right_verdict() -> None:
    assert highest_isa(compute_kernels(UNCAPPED)) == "avx512"
    assert compute_kernels(UNCAPPED) == ["brgemm_avx512_I8", "brgemm_avx512_bf16",
                                         "brgconv_avx512_bf16"]
    assert within(compute_kernels(UNCAPPED), "avx2") == compute_kernels(UNCAPPED)
    capped = compute_kernels(CAPPED)
    assert within(capped, "avx2") == []
    verdict = cap_verdict(capped, "avx2")
    assert verdict.startswith("cap avx2: HELD")
    # MLAS and oneDNN's generic int8 gemm name no ISA: said, not counted as verified.
    assert "not verified: gemm_mlas_f32, jit_gemm_I8" in verdict
    assert cap_verdict(compute_kernels(UNCAPPED), "avx2").startswith("cap avx2: NOT held")


def test_onednn_verbose_log_is_read_into_reported_isa_and_kernels() -> None:
    reported, executed = onednn_verbose_isas(VERBOSE_UNCAPPED)
    assert reported_isa(reported) == "avx512"
    assert executed == {
        "convolution": ["brg_conv_fwd:avx512_core"],
        "gemm_api": [""],
    }
    reported, executed = onednn_verbose_isas(VERBOSE_CAPPED)
    assert reported == "Intel AVX2"
    assert reported_isa(reported) == "avx2"
    assert within([reported, *executed["convolution"]], "avx2") == []


def test_zmm_uses_counts_512_bit_registers_in_a_disassembly() -> None:
    text = (
        "  10:\tc5 fc 58 c1          \tvaddps %ymm1,%ymm0,%ymm0\n"
        "  14:\t62 f1 7c 48 58 c1    \tvaddps %zmm1,%zmm0,%zmm0\n"
        "  1a:\t62 f1 7c 48 59 ca    \tvmulps %zmm2,%zmm0,%zmm1\n"
    )
    assert zmm_uses(text) == 2
    assert zmm_uses(text.split("\n")[0]) == 0
