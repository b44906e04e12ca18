"""Probes of the machine's ceiling per precision: the best GEMM-like rate of the run.

Every library that could reach the peak gets a try, and the best rate wins (a probe that
under-measures makes engines look faster than the "bound", as AMX did in an earlier run):

* NumPy's BLAS (OpenBLAS) and TensorFlow's matmul (fp32, bf16) on 2048-square matrices;
* OpenVINO -- the engine FCN-8s runs on -- with constant (pre-packed) weights, the way a
  network's layers run: a chain of square MatMuls, a chain of 1x1 convolutions (1024
  channels, 64x64: FCN-8s's fc7/score layers' shape of work) and one 3x3 convolution
  (512 channels, 64x64: VGG's conv4 at a 512 px input), in fp32, bf16 and int8 (the int8
  graph quantises both operands with FakeQuantize, as NNCF's models do; OpenVINO's CPU
  plugin then runs u8 x s8 kernels: :func:`openvino_probe_kernels` shows which).

Under an ISA cap (``bench --isa avx2``) the same probes run capped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

# OpenVINO chains: square matrix sides per precision, CHAIN products per call. (On AMX,
# 2048-square bf16 products ran 20-30 % slower than FCN-8s's own layers: the convolution
# probes, shaped like those layers, cover that; 4096-square ones cost seconds per round.)
MATMUL_SIDES: Final = {"fp32": 2048, "bf16": 2048, "int8": 2048}
CHAIN: Final = 2
# The convolution probes' work: (channels, side, kernel).
CONV_SHAPES: Final = ((1024, 64, 1), (512, 64, 3))
NUMPY_SIDE: Final = 2048
# FakeQuantize ranges of the int8 graphs (activations u8 in [0, 4), weights s8 in [-4, 4]).
ACTIVATION_RANGE: Final = 4.0
_HINTS: Final = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


@dataclass(frozen=True)
class Probe:
    name: str
    precision: str
    flops: float
    run: Callable[[], object]
    compiled: Any = None  # the OpenVINO compiled model (to read its kernels back)


def gemm_probes(precisions: tuple[str, ...]) -> list[Probe]:
    """Every probe for ``precisions`` (a subset of fp32, bf16, int8)."""
    probes = [*_numpy_probe(), *_tensorflow_probes(precisions)]
    return probes + openvino_probes(precisions)


def _numpy_probe() -> list[Probe]:
    n = NUMPY_SIDE
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return [Probe(f"numpy fp32 {n}", "fp32", 2.0 * n**3, lambda: a @ b)]


def _tensorflow_probes(precisions: tuple[str, ...]) -> list[Probe]:
    import tensorflow as tf

    n = NUMPY_SIDE
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    product = tf.function(tf.matmul)
    probes = []
    for precision, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
        if precision not in precisions:
            continue
        ta, tb = tf.constant(a, dtype=dtype), tf.constant(b, dtype=dtype)
        probes.append(
            Probe(
                f"tensorflow {precision} {n}",
                precision,
                2.0 * n**3,
                _call(lambda ta=ta, tb=tb: product(ta, tb).numpy()),
            )
        )
    return probes


def openvino_probes(precisions: tuple[str, ...]) -> list[Probe]:
    """OpenVINO's MatMul and convolution chains (empty when OpenVINO is not installed)."""
    try:
        import openvino as ov
        from openvino import opset13 as ops
    except ImportError:
        return []
    rng = np.random.default_rng(1)
    core = ov.Core()
    probes = []
    for precision in precisions:
        graphs = [_matmul_chain(ops, rng, precision), *(
            _convolution(ops, rng, precision, *shape) for shape in CONV_SHAPES
        )]
        for name, parameter, output, flops, data in graphs:
            compiled = core.compile_model(
                ov.Model([output], [parameter]),
                "CPU",
                {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"},
            )
            request = compiled.create_infer_request()
            probes.append(
                Probe(
                    f"openvino {precision} {name}",
                    precision,
                    flops,
                    _call(lambda request=request, data=data: request.infer({0: data})),
                    compiled,
                )
            )
    return probes


def _call(run: Callable[..., object]) -> Callable[[], object]:
    return run


def _quantised(ops: Any, node: Any, precision: str, signed: bool) -> Any:
    """``node`` through a 256-level FakeQuantize (int8 graphs only)."""
    if precision != "int8":
        return node
    low, high = (-ACTIVATION_RANGE, ACTIVATION_RANGE) if signed else (0.0, ACTIVATION_RANGE)
    bounds = [ops.constant(np.float32(v)) for v in (low, high, low, high)]
    return ops.fake_quantize(node, *bounds, 255 if signed else 256)


def _matmul_chain(ops: Any, rng: np.random.Generator, precision: str) -> tuple[Any, ...]:
    n = MATMUL_SIDES[precision]
    parameter = ops.parameter([n, n], np.float32)
    x = parameter
    for _ in range(CHAIN):
        weights = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
        x = ops.matmul(
            _quantised(ops, x, precision, signed=False),
            _quantised(ops, ops.constant(weights), precision, signed=True),
            False,
            False,
        )
        x = ops.relu(x)  # keeps the next quantised input in the u8 range
    data = rng.uniform(0, ACTIVATION_RANGE, (n, n)).astype(np.float32)
    return f"matmul {n}x{CHAIN}", parameter, x, 2.0 * n**3 * CHAIN, data


def _convolution(
    ops: Any, rng: np.random.Generator, precision: str, channels: int, side: int, kernel: int
) -> tuple[Any, ...]:
    """``CHAIN`` 1x1 convolutions, or one ``kernel`` x ``kernel`` convolution."""
    parameter = ops.parameter([1, channels, side, side], np.float32)
    x = parameter
    layers = CHAIN if kernel == 1 else 1
    pad = kernel // 2
    for _ in range(layers):
        weights = rng.standard_normal((channels, channels, kernel, kernel)) / np.sqrt(
            channels * kernel * kernel
        )
        x = ops.relu(
            ops.convolution(
                _quantised(ops, x, precision, signed=False),
                _quantised(ops, ops.constant(weights.astype(np.float32)), precision, signed=True),
                [1, 1],
                [pad, pad],
                [pad, pad],
                [1, 1],
            )
        )
    flops = 2.0 * side * side * channels * channels * kernel * kernel * layers
    data = rng.uniform(0, ACTIVATION_RANGE, (1, channels, side, side)).astype(np.float32)
    name = f"conv{kernel}x{kernel} {channels}c {side}px" + (f"x{layers}" if layers > 1 else "")
    return name, parameter, x, flops, data


def openvino_probe_kernels(probe: Probe) -> list[tuple[str, str, str]]:
    """(layer type, kernel, runtime precision) of a probe's MatMul/convolution nodes."""
    from bench.isa import COMPUTE_LAYERS, runtime_nodes

    if probe.compiled is None:
        return []
    return [n for n in runtime_nodes(probe.compiled) if n[0] in COMPUTE_LAYERS]
