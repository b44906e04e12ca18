"""int8 with accuracy control: ``--precision int8`` quantises through NNCF's
``quantize_with_accuracy_control`` with the argmax agreement as its metric, reverting layers
to float until the calibration photos agree within the bound; the result is cached under a
key that names the int8 kernels it was validated on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino extra is not installed")
pytest.importorskip("nncf", reason="NNCF (the openvino extra) is not installed")

from segmentation.backends import openvino_int8
from segmentation.backends.int8_accuracy import AgreementBound
from segmentation.backends.openvino_int8 import Int8Options, fake_quantize_count, int8_kernels
from segmentation.segmenter import OpenVinoFcn8sSegmenter, load_segmenter
from tests.segmentation.backends.test_openvino_int8 import CALIBRATION

# Within the tiny random network's reach: plain int8 leaves its worst calibration photo at
# about 0.94 agreement; reverting a few layers lifts every photo above this.
TINY_BOUND = Int8Options(min_agreement=0.96, median_agreement=0.97)


class _Spy:
    """Counts NNCF's accuracy-controlled runs (passed through to the real one)."""

    def __init__(self) -> None:
        import nncf

        self.runs = 0
        self._real = nncf.quantize_with_accuracy_control

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return self._real(*args, **kwargs)


def _agreements(segmenter: Any, reference: Any, photos: Sequence[np.ndarray]) -> list[float]:
    return [
        float((segmenter.predict(p).argmax(-1) == reference.predict(p).argmax(-1)).mean())
        for p in photos
    ]


@pytest.mark.slow
def test_int8_reverts_layers_until_the_calibration_photos_agree(
    tiny_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nncf
    import openvino as ov

    spy = _Spy()
    monkeypatch.setattr(nncf, "quantize_with_accuracy_control", spy)
    monkeypatch.setattr(openvino_int8, "DEFAULT_OPTIONS", TINY_BOUND)
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny_model)
    weights = tmp_path / "fcn8s_voc2012.weights.h5"
    weights.write_bytes(b"tiny weights")

    def load() -> Any:
        return load_segmenter(
            "fcn8s",
            weights=weights,
            backend="openvino",
            precision="int8",
            num_threads=1,
            calibration=CALIBRATION,
        )

    controlled = load()
    assert controlled.precision == "int8"
    assert spy.runs == 1  # the accuracy-controlled recipe is the int8 path
    (cached,) = tmp_path.glob("*.int8-*.xml")
    assert cached.name.endswith(f".{int8_kernels()}.xml")  # validated on these kernels
    again = load()
    assert spy.runs == 1  # read from the cache, not quantised again
    photo = CALIBRATION[0]
    np.testing.assert_array_equal(controlled.predict(photo), again.predict(photo))

    from segmentation.backends.openvino import ir_path

    float_xml = ir_path(weights)
    inputs = [OpenVinoFcn8sSegmenter.calibration_input(p) for p in CALIBRATION]
    plain_model = openvino_int8.quantize(
        ov.Core().read_model(float_xml), inputs, Int8Options(accuracy_control=False)
    )
    reverted = fake_quantize_count(ov.Core().read_model(cached))
    assert 0 < reverted < fake_quantize_count(plain_model)  # some layers went back to float
    fp32 = OpenVinoFcn8sSegmenter(float_xml, precision="fp32", num_threads=1)
    plain = OpenVinoFcn8sSegmenter(plain_model, precision="int8", num_threads=1)
    before = _agreements(plain, fp32, CALIBRATION)
    after = _agreements(controlled, fp32, CALIBRATION)
    assert min(before) < TINY_BOUND.min_agreement  # plain int8 misses the bound...
    assert min(after) >= TINY_BOUND.min_agreement  # ...reverting layers meets it
    assert float(np.median(after)) >= TINY_BOUND.median_agreement


def test_agreement_bound_margin_and_nncf_drop() -> None:
    bound = AgreementBound(min_agreement=0.98, median_agreement=0.995)
    assert bound.margin([1.0, 1.0, 1.0]) == pytest.approx(0.005)
    assert bound.max_drop == pytest.approx(0.005)  # from fp32 (all 1.0) to just holding
    assert bound.margin([0.98, 0.995, 1.0]) == pytest.approx(0.0)
    assert bound.margin([0.97, 1.0, 1.0]) == pytest.approx(-0.01)  # the worst photo
    assert bound.margin([0.99, 0.99, 1.0]) == pytest.approx(-0.005)  # the median
    with pytest.raises(ValueError, match=r"1\.5"):
        AgreementBound(min_agreement=1.5, median_agreement=0.99)


def test_int8_kernels_follow_the_isa_cap_and_the_cpu(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert int8_kernels({}, cpuinfo) == "vnni"
    assert int8_kernels({"OV_CPU_MAX_ISA": "AVX2"}, cpuinfo) == "avx2"
    assert int8_kernels({"ONEDNN_MAX_CPU_ISA": "AVX2"}, cpuinfo) == "avx2"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 fma\n")
    assert int8_kernels({}, cpuinfo) == "novnni"
    assert int8_kernels({}, tmp_path / "absent") == "unknown"


def test_cache_key_follows_the_bound_and_the_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = tmp_path / "fcn8s.0123.openvino-2026.1.xml"
    key = openvino_int8.int8_ir_path(xml, CALIBRATION)
    assert key != openvino_int8.int8_ir_path(xml, CALIBRATION, Int8Options(min_agreement=0.95))
    assert key != openvino_int8.int8_ir_path(xml, CALIBRATION, Int8Options(accuracy_control=False))
    monkeypatch.setenv("OV_CPU_MAX_ISA", "AVX2")
    capped = openvino_int8.int8_ir_path(xml, CALIBRATION)
    assert capped != key
    assert capped.name.endswith(".avx2.xml")
