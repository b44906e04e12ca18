"""int8 post-training quantisation of an OpenVINO model with NNCF (precision ``int8`` of the
openvino backend).

NNCF runs the float model on a calibration set of real photos (preprocessed exactly as the
segmenter's ``predict`` feeds them), records the activation ranges and inserts int8
quantise/dequantise pairs (``FakeQuantize``) on the inputs of the convolutions; OpenVINO's CPU
plugin then executes those convolutions with int8 weights and activations (VNNI where the CPU
has it). The quantised IR is cached beside the float one under a name keyed by the float
IR's own key (weights hash + OpenVINO version), the NNCF version, the quantisation options
and a digest of the calibration photos (:func:`int8_ir_path`): another calibration set or a
new NNCF quantises again. By default the photos are scikit-image's
(:func:`segmentation.export.default_calibration_photos`), so a fresh clone needs no data.

A model that is already quantised (the DeepLab ``*_quant.tflite`` files: OpenVINO's TFLite
frontend turns their uint8 tensors into ``FakeQuantize`` ops) runs as it is: NNCF has
nothing to add (:func:`is_quantized`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from segmentation.backends.int8_accuracy import AgreementBound, quantize_with_agreement
from segmentation.errors import ModelUnavailable

logger = logging.getLogger(__name__)

# Characters of the calibration set's (and the options') SHA-256 in the cached IR's name.
DIGEST_CHARS: Final = 12

# /proc/cpuinfo flags of int8 dot-product instructions (exact int32 accumulation).
_VNNI_FLAGS: Final = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_CPUINFO: Final = Path("/proc/cpuinfo")

# The op NNCF (and OpenVINO's TFLite frontend, for a quantised .tflite) quantises with.
_FAKE_QUANTIZE: Final = "FakeQuantize"


@dataclass(frozen=True)
class Int8Options:
    """How NNCF quantises (part of the cache key).

    ``preset``: ``"performance"`` (symmetric activations: fastest kernels) or ``"mixed"``
    (asymmetric activations: better for signed inputs such as the mean-subtracted image);
    ``fast_bias_correction``: correct each layer's bias for the mean shift quantisation
    causes (NNCF's default; the slow variant is meant for much larger calibration sets);
    ``float_scores``: leave the score layers (the convolutions that output one channel per
    class, whose rounding moves the argmax directly) in float; ``activation_ranges``: how
    each activation's int8 range comes from the calibration photos' -- ``"mean_minmax"``
    (NNCF's default: the mean over the photos of each one's min and max), ``"minmax"`` (the
    extremes over all of them: nothing clipped) or ``"histogram"`` (NNCF's optimal range
    from a histogram of the values); ``overflow_fix``: ``"first_layer"`` (NNCF's default),
    ``"enable"`` or ``"disable"`` -- weights quantised to 7 bits (in the first layer or in
    all) so that a CPU without VNNI, whose u8 x s8 kernels (``vpmaddubsw``) add pairs of
    products in saturating int16, cannot overflow.

    ``accuracy_control``: NNCF's quantisation with accuracy control
    (:mod:`segmentation.backends.int8_accuracy`): the layers whose int8 moves the argmax most
    go back to float until, on the calibration photos, every photo's argmax agrees with the
    float model's on at least ``min_agreement`` of its pixels and their median on at least
    ``median_agreement`` (stricter than the benchmark's 0.98 / 0.995 on other photos).
    """

    # Chosen on the benchmark's FCN-8s (README, "int8 with NNCF"): the activation ranges are
    # what moved the argmax agreement (worst photo 0.939 -> 0.961 with "minmax"); the preset,
    # float score layers, the slow bias correction, twice the photos did not help.
    preset: str = "mixed"
    fast_bias_correction: bool = True
    float_scores: bool = False
    activation_ranges: str = "minmax"
    overflow_fix: str = "first_layer"
    accuracy_control: bool = True
    min_agreement: float = 0.985
    median_agreement: float = 0.9975

    def digest(self) -> str:
        text = repr(sorted(asdict(self).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


DEFAULT_OPTIONS: Final = Int8Options()


def nncf_available() -> bool:
    """Whether NNCF is installed (part of ``pip install 'stickerbot[openvino]'``)."""
    return importlib.util.find_spec("nncf") is not None


def _nncf() -> Any:
    if not nncf_available():
        raise ModelUnavailable(
            "precision 'int8' on the openvino backend needs NNCF: "
            "pip install 'stickerbot[openvino]'"
        )
    import nncf

    return nncf


def nncf_version() -> str:
    version: str = _nncf().__version__
    return version.split("+")[0]


def calibration_digest(photos: Sequence[np.ndarray]) -> str:
    """A digest of the calibration photos' pixels, shapes and order."""
    if not photos:
        raise ModelUnavailable("int8 quantisation needs at least one calibration photo; got none")
    digest = hashlib.sha256()
    for photo in photos:
        array = np.ascontiguousarray(photo)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def int8_ir_path(
    float_xml: Path, photos: Sequence[np.ndarray], options: Int8Options | None = None
) -> Path:
    """Where the int8 IR quantised from ``float_xml`` on ``photos`` is cached: beside it,
    keyed by its name (weights hash, OpenVINO version), NNCF's version, the options and the
    calibration set; with accuracy control also the int8 kernels it was validated on
    (:func:`int8_kernels`)."""
    options = options or DEFAULT_OPTIONS
    key = f"int8-{calibration_digest(photos)}-{options.digest()}.nncf-{nncf_version()}"
    if options.accuracy_control:
        key += f".{int8_kernels()}"
    return float_xml.with_name(f"{float_xml.stem}.{key}.xml")


def fake_quantize_count(model: Any) -> int:
    """How many int8 quantisation ops (``FakeQuantize``) the OpenVINO ``model`` holds."""
    return sum(op.get_type_name() == _FAKE_QUANTIZE for op in model.get_ops())


def int8_kernels(environ: Mapping[str, str] | None = None, cpuinfo: Path = _CPUINFO) -> str:
    """Which int8 kernels OpenVINO's CPU plugin runs here, as part of an accuracy-controlled
    IR's cache key (the layers it reverts are chosen by the agreement measured on them):
    ``vnni`` (AVX512-VNNI, AVX-VNNI or AMX: exact int32 sums), ``novnni`` (AVX2's saturating
    int16 pairs: less agreement) or, under an ISA cap (``OV_CPU_MAX_ISA``), the cap's name."""
    environ = os.environ if environ is None else environ
    cap = environ.get("OV_CPU_MAX_ISA") or environ.get("ONEDNN_MAX_CPU_ISA")
    if cap:
        return re.sub(r"[^a-z0-9_]", "", cap.lower()) or "capped"
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return "unknown"
    flags = set(re.findall(r"[a-z0-9_]+", text.lower()))
    return "vnni" if flags & _VNNI_FLAGS else "novnni"


def is_quantized(model: Any) -> bool:
    """Whether the OpenVINO ``model`` already holds int8 quantisation (``FakeQuantize`` ops)."""
    return fake_quantize_count(model) > 0


def score_layers(model: Any) -> list[str]:
    """The names of ``model``'s convolutions that output as many channels as the model does
    (the last dimension of output 0: the classes), i.e. its score layers."""
    classes = model.output(0).get_partial_shape()[-1]
    return [
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() == "Convolution" and op.get_output_partial_shape(0)[1] == classes
    ]


def quantize(
    model: Any,
    inputs: Sequence[np.ndarray],
    options: Int8Options | None = None,
    regions: Sequence[tuple[int, int]] | None = None,
) -> Any:
    """``model`` (float OpenVINO) quantised to int8 by NNCF on ``inputs`` (each exactly what
    ``predict`` feeds the model: one array for input 0); ``options`` default
    :data:`DEFAULT_OPTIONS`. ``regions``: the (height, width) of the photo at the top left
    of each input, where accuracy control measures the agreement (default: all of it)."""
    nncf = _nncf()
    options = options or DEFAULT_OPTIONS
    if not inputs:
        raise ModelUnavailable("int8 quantisation needs at least one calibration photo; got none")
    presets = {
        "performance": nncf.QuantizationPreset.PERFORMANCE,
        "mixed": nncf.QuantizationPreset.MIXED,
    }
    if options.preset not in presets:
        raise ModelUnavailable(
            f"NNCF preset must be one of {', '.join(presets)}; got {options.preset!r}"
        )
    ranges = {
        "mean_minmax": nncf.quantization.range_estimator.RangeEstimatorParametersSet.MEAN_MINMAX,
        "minmax": nncf.quantization.range_estimator.RangeEstimatorParametersSet.MINMAX,
        "histogram": nncf.quantization.range_estimator.RangeEstimatorParametersSet.HISTOGRAM,
    }
    if options.activation_ranges not in ranges:
        raise ModelUnavailable(
            f"activation ranges must be one of {', '.join(ranges)}; "
            f"got {options.activation_ranges!r}"
        )
    fixes = {
        "first_layer": nncf.OverflowFix.FIRST_LAYER,
        "enable": nncf.OverflowFix.ENABLE,
        "disable": nncf.OverflowFix.DISABLE,
    }
    if options.overflow_fix not in fixes:
        raise ModelUnavailable(
            f"overflow fix must be one of {', '.join(fixes)}; got {options.overflow_fix!r}"
        )
    advanced = nncf.quantization.advanced_parameters.AdvancedQuantizationParameters(
        activations_range_estimator_params=ranges[options.activation_ranges],
        overflow_fix=fixes[options.overflow_fix],
    )
    ignored = (
        nncf.IgnoredScope(names=score_layers(model), validate=False)
        if options.float_scores
        else None
    )
    arguments = {
        "preset": presets[options.preset],
        "target_device": nncf.TargetDevice.CPU,
        "subset_size": len(inputs),
        "fast_bias_correction": options.fast_bias_correction,
        "ignored_scope": ignored,
    }
    # NNCF draws its progress bars on stdout, which belongs to the caller (`make --json`).
    with contextlib.redirect_stdout(sys.stderr):
        if options.accuracy_control:
            bound = AgreementBound(options.min_agreement, options.median_agreement)
            quantized = quantize_with_agreement(
                nncf,
                model,
                inputs,
                bound,
                regions,
                advanced_quantization_parameters=advanced,
                **arguments,
            )
        else:
            quantized = nncf.quantize(
                model, nncf.Dataset(list(inputs)), advanced_parameters=advanced, **arguments
            )
    count = fake_quantize_count(quantized)
    if count == 0:
        raise ModelUnavailable(
            "int8 with accuracy control put every layer back to float: the agreement bound "
            f"(each photo >= {options.min_agreement}, median >= {options.median_agreement}) "
            f"is out of int8's reach on these {len(inputs)} calibration photos; got 0 "
            "quantised ops (use precision fp32 or bf16)"
        )
    logger.info(
        "quantised to int8 with NNCF on %d calibration inputs (%d FakeQuantize ops)",
        len(inputs),
        count,
    )
    return quantized
