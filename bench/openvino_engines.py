"""The OpenVINO engines of the FCN-8s table: fp32, bf16 (where native) and int8 by NNCF --
plain post-training quantisation and with accuracy control (the int8 path of
``--precision int8``: layers that move the argmax go back to float), both calibrated on
devset photos that are not benchmark photos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

SHARED: Final = Path(__file__).resolve().parents[1].parent / "shared"

# NNCF calibrates the int8 engines on these many devset photos: none of them is a benchmark
# photo, so the agreement is measured on photos it was not calibrated (or validated) on.
INT8_CALIBRATION_PHOTOS: Final = 8


def openvino_engines(weights: Path, with_bf16: bool, int8_control: bool = False) -> list[Any]:
    """OpenVINO fp32, bf16 (where native) and the int8 ones from the IR cached beside
    ``weights``; none where OpenVINO is not installed. ``int8_control=False`` leaves out the
    accuracy-controlled int8 (its first quantisation takes tens of minutes on 2 cores)."""
    from bench.engines import Engine
    from segmentation.backends.openvino import openvino_available
    from segmentation.segmenter import OpenVinoFcn8sSegmenter

    if not openvino_available():
        print("openvino is not installed: pip install 'stickerbot[openvino]'")
        return []
    engines = []
    for precision in ("fp32", "bf16")[: 2 if with_bf16 else 1]:
        start = time.perf_counter()
        segmenter = OpenVinoFcn8sSegmenter.load(weights=weights, precision=precision)
        segmenter.warmup()
        print(f"openvino {precision}: loaded and warmed up in {time.perf_counter() - start:.1f} s")
        engines.append(Engine(f"openvino {precision}", segmenter.precision, segmenter))
    from segmentation.backends.openvino_int8 import nncf_available

    if not nncf_available():
        print("nncf is not installed (openvino int8): pip install 'stickerbot[openvino]'")
        return engines
    from segmentation.backends.openvino_int8 import DEFAULT_OPTIONS

    calibration = _calibration_photos()
    plain = Engine("openvino int8 plain", "int8", _int8(weights, calibration, False))
    if not int8_control:
        print("openvino int8 with accuracy control: left out (add --int8-control)")
        return [*engines, plain]
    controlled = _int8(weights, calibration, DEFAULT_OPTIONS.accuracy_control)
    return [*engines, plain, Engine("openvino int8", controlled.precision, controlled)]


def _calibration_photos() -> Any:
    from segmentation.image import load_image

    paths = sorted((SHARED / "devset" / "images").glob("*"))[:INT8_CALIBRATION_PHOTOS]
    if not paths:
        print(
            "openvino int8: no ../shared/devset: calibrated on scikit-image's photos, which are "
            "benchmark photos too (the agreement below is optimistic)"
        )
        return None
    names = ", ".join(path.name for path in paths)
    print(f"openvino int8: calibrated on devset photos, none a benchmark photo: {names}")
    return [load_image(path.read_bytes()) for path in paths]


def _int8(weights: Path, calibration: Any, accuracy_control: bool) -> Any:
    """OpenVINO int8 (NNCF) calibrated on ``calibration``, cached beside the float IR:
    with accuracy control (the library's default recipe) or plain."""
    from dataclasses import replace

    from segmentation.backends.openvino_int8 import DEFAULT_OPTIONS
    from segmentation.segmenter import OpenVinoFcn8sSegmenter

    options = replace(DEFAULT_OPTIONS, accuracy_control=accuracy_control)
    recipe = (
        f"accuracy control (calibration photos kept >= {options.min_agreement} each, median "
        f">= {options.median_agreement})"
        if accuracy_control
        else "plain post-training quantisation"
    )
    start = time.perf_counter()
    segmenter = OpenVinoFcn8sSegmenter.load(
        weights=weights, precision="int8", calibration=calibration, int8_options=options
    )
    segmenter.warmup()
    print(
        f"openvino int8, {recipe}: loaded (quantised on first use) and warmed up in "
        f"{time.perf_counter() - start:.1f} s; {_quantized_ops(weights, calibration, options)}"
    )
    return segmenter


def _quantized_ops(weights: Path, calibration: Any, options: Any) -> str:
    """How many int8 quantisation ops the cached int8 IR holds (fewer: layers reverted)."""
    import openvino

    from segmentation.backends.openvino import ir_path
    from segmentation.backends.openvino_int8 import fake_quantize_count, int8_ir_path
    from segmentation.export import default_calibration_photos

    photos = default_calibration_photos() if calibration is None else calibration
    xml = int8_ir_path(ir_path(weights), photos, options)
    if not xml.is_file():
        return "int8 IR not cached"
    count = fake_quantize_count(openvino.Core().read_model(xml))
    return f"{count} FakeQuantize ops in {xml.name}"
