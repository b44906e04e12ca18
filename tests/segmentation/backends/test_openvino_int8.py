"""OpenVINO int8 (NNCF post-training quantisation): the int8 IR is produced on calibration
photos, cached beside the float IR under a key that follows the calibration set, reused on the
next load, close to fp32; ``auto`` never resolves to int8; a quantised TFLite model runs as it
is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino extra is not installed")
pytest.importorskip("nncf", reason="NNCF (the openvino extra) is not installed")

from segmentation.backends import openvino as ov_backend
from segmentation.backends import openvino_int8
from segmentation.backends.openvino_int8 import Int8Options, calibration_digest, int8_ir_path
from segmentation.errors import ModelUnavailable
from segmentation.segmenter import (
    OpenVinoFcn8sSegmenter,
    OpenVinoTFLiteSegmenter,
    choose_backend,
    load_segmenter,
)

SIDE = 64


def _photo(seed: int, side: int = SIDE) -> np.ndarray:
    """Smooth colour regions with some texture: photo-like, not white noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BILINEAR))
    texture = rng.integers(-12, 13, smooth.shape)
    return np.clip(smooth.astype(int) + texture, 0, 255).astype(np.uint8)


CALIBRATION = [_photo(seed) for seed in range(3)]


@pytest.fixture(autouse=True)
def plain_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the int8 path's caching and calibration: NNCF's plain
    quantisation keeps them fast (the accuracy-controlled default, which reverts layers of
    the tiny random net to float, is tested in test_int8_accuracy.py)."""
    monkeypatch.setattr(openvino_int8, "DEFAULT_OPTIONS", Int8Options(accuracy_control=False))


class _Spy:
    """Counts NNCF runs (and passes them through to the real quantisation)."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self._real = openvino_int8.quantize

    def __call__(self, model: Any, inputs: Sequence[np.ndarray], *args: Any) -> Any:
        self.runs.append(len(inputs))
        return self._real(model, inputs, *args)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    counter = _Spy()
    monkeypatch.setattr(ov_backend, "quantize", counter)
    return counter


@pytest.fixture
def weights(tiny_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights file whose 'loading' gives the tiny model (the IR cache keys on its bytes)."""
    path = tmp_path / "fcn8s_voc2012.weights.h5"
    path.write_bytes(b"tiny weights")
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny_model)
    return path


def _load_int8(weights: Path, calibration: Sequence[np.ndarray] | None) -> Any:
    return load_segmenter(
        "fcn8s",
        weights=weights,
        backend="openvino",
        precision="int8",
        num_threads=1,
        calibration=calibration,
    )


def test_int8_ir_is_quantised_once_cached_and_reused(weights: Path, spy: _Spy) -> None:
    first = _load_int8(weights, CALIBRATION)
    assert isinstance(first, OpenVinoFcn8sSegmenter)
    assert (first.backend, first.precision) == ("openvino", "int8")
    assert spy.runs == [len(CALIBRATION)]  # every calibration photo went to NNCF
    (int8_xml,) = weights.parent.glob("*.int8-*.xml")
    float_xml = ov_backend.ir_path(weights)
    assert float_xml.is_file()
    # Beside the float IR, its name extended by the calibration set's and NNCF's keys.
    assert int8_xml.name.startswith(float_xml.stem + ".int8-")
    assert ".nncf-" in int8_xml.name
    assert int8_xml.with_suffix(".bin").is_file()
    partials = [*weights.parent.glob(".*.xml"), *weights.parent.glob(".*.bin")]
    assert not partials

    second = _load_int8(weights, CALIBRATION)
    assert spy.runs == [len(CALIBRATION)]  # read from the cache, not quantised again
    assert second.precision == "int8"
    photo = _photo(10)
    np.testing.assert_array_equal(first.predict(photo), second.predict(photo))

    _load_int8(weights, CALIBRATION[:2])  # another calibration set: quantised again
    assert spy.runs == [len(CALIBRATION), 2]
    assert len(list(weights.parent.glob("*.int8-*.xml"))) == 2


@pytest.mark.slow
def test_default_calibration_is_scikit_images_photos(weights: Path, spy: _Spy) -> None:
    from segmentation.export import default_calibration_photos

    photos = default_calibration_photos()
    segmenter = _load_int8(weights, None)
    assert segmenter.precision == "int8"
    assert spy.runs == [len(photos)]
    expected = int8_ir_path(ov_backend.ir_path(weights), photos)
    assert expected.is_file()


def test_cache_key_follows_calibration_set_and_options(tmp_path: Path) -> None:
    xml = tmp_path / "fcn8s.0123.openvino-2026.1.xml"
    key = int8_ir_path(xml, CALIBRATION)
    assert key == int8_ir_path(xml, [photo.copy() for photo in CALIBRATION])  # pixels, not ids
    assert key.parent == xml.parent
    changed = CALIBRATION[0].copy()
    changed[0, 0, 0] ^= 1
    others = {
        int8_ir_path(xml, [changed, *CALIBRATION[1:]]),  # one pixel differs
        int8_ir_path(xml, CALIBRATION[::-1]),  # another order
        int8_ir_path(xml, CALIBRATION[:2]),  # fewer photos
        int8_ir_path(xml, CALIBRATION, Int8Options(preset="performance")),
        int8_ir_path(xml, CALIBRATION, Int8Options(float_scores=True)),
        int8_ir_path(xml, CALIBRATION, Int8Options(overflow_fix="enable")),
        int8_ir_path(tmp_path / "fcn8s.4567.openvino-2026.1.xml", CALIBRATION),  # weights
    }
    assert key not in others
    assert len(others) == 7
    with pytest.raises(ModelUnavailable, match="got none"):
        calibration_digest([])


def test_int8_output_is_close_to_fp32(tiny_ir: Path) -> None:
    import openvino as ov

    quantized = openvino_int8.quantize(
        ov.Core().read_model(tiny_ir),
        [OpenVinoFcn8sSegmenter.calibration_input(photo) for photo in CALIBRATION],
    )
    assert openvino_int8.is_quantized(quantized)
    fp32 = OpenVinoFcn8sSegmenter(tiny_ir, precision="fp32", num_threads=1)
    int8 = OpenVinoFcn8sSegmenter(quantized, precision="int8", num_threads=1)
    photo = _photo(20)  # not a calibration photo
    reference, reduced = fp32.predict(photo), int8.predict(photo)
    assert not np.array_equal(reference, reduced)  # it does compute in another precision
    np.testing.assert_allclose(reduced.sum(-1), 1.0, atol=1e-3)
    assert len(np.unique(reference.argmax(-1))) > 1  # not a comparison between constants
    assert (reduced.argmax(-1) == reference.argmax(-1)).mean() > 0.9
    assert np.abs(reduced - reference).mean() < 0.05


@pytest.mark.parametrize(
    ("options", "value"),
    [
        (Int8Options(preset="fast"), "'fast'"),
        (Int8Options(activation_ranges="max"), "'max'"),
        (Int8Options(overflow_fix="all"), "'all'"),
    ],
)
def test_unknown_nncf_option_names_the_value(
    tiny_ir: Path, options: Int8Options, value: str
) -> None:
    import openvino as ov

    inputs = [OpenVinoFcn8sSegmenter.calibration_input(CALIBRATION[0])]
    with pytest.raises(ModelUnavailable, match=value):
        openvino_int8.quantize(ov.Core().read_model(tiny_ir), inputs, options)


def test_score_layers_stay_float_on_request(tiny_ir: Path) -> None:
    import openvino as ov

    model = ov.Core().read_model(tiny_ir)
    scores = openvino_int8.score_layers(model)
    assert len(scores) == 3  # fc8, pool4_fc, pool3_fc
    inputs = [OpenVinoFcn8sSegmenter.calibration_input(photo) for photo in CALIBRATION[:1]]
    kept = openvino_int8.quantize(
        model, inputs, Int8Options(float_scores=True, accuracy_control=False)
    )
    by_name = {op.get_friendly_name(): op for op in kept.get_ops()}
    for name in scores:  # their inputs come straight from float ops, no FakeQuantize
        sources = {by_name[name].input_value(i).get_node().get_type_name() for i in range(2)}
        assert "FakeQuantize" not in sources


def test_float_ir_is_not_taken_for_int8(tiny_ir: Path) -> None:
    with pytest.raises(ModelUnavailable, match="needs a quantised IR"):
        OpenVinoFcn8sSegmenter(tiny_ir, precision="int8")


@pytest.mark.parametrize("precision", ["int4", "INT8", "int8-dynamic"])
def test_wrong_precision_names_the_value(tiny_ir: Path, precision: str) -> None:
    with pytest.raises(ModelUnavailable, match=repr(precision)):
        OpenVinoFcn8sSegmenter(tiny_ir, precision=precision)


def test_wrong_precision_through_load_segmenter_names_the_value() -> None:
    with pytest.raises(ModelUnavailable, match="'int4'"):
        load_segmenter("fcn8s", backend="openvino", precision="int4")


def test_calibration_without_openvino_int8_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="'bf16'"):
        load_segmenter("fcn8s", backend="openvino", precision="bf16", calibration=CALIBRATION)
    with pytest.raises(ModelUnavailable, match="'tflite'"):
        load_segmenter("fcn8s", backend="tflite", precision="int8", calibration=CALIBRATION)


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_never_resolves_to_int8(
    tiny_ir: Path, monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    monkeypatch.setattr(ov_backend, "native_bf16", lambda: bf16)
    assert ov_backend.resolve_precision("auto") == ("bf16" if bf16 else "fp32")
    segmenter = OpenVinoFcn8sSegmenter(tiny_ir, precision="auto", num_threads=1)
    assert segmenter.precision != "int8"
    # int8 on OpenVINO only when asked for by name: auto backend with int8 is the TFLite export.
    assert choose_backend("fcn8s", "auto", "int8") == "tflite"


def test_quantised_tflite_runs_as_it_is(
    deeplab_model_path: Path, spy: _Spy, tmp_path: Path
) -> None:
    int8 = OpenVinoTFLiteSegmenter(
        deeplab_model_path, precision="int8", num_threads=1, cache_dir=tmp_path
    )
    assert int8.precision == "int8"
    assert spy.runs == []  # already quantised: NNCF has nothing to add
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_float_tflite_is_quantised_into_the_cache_once(tmp_path: Path, spy: _Spy) -> None:
    from tests.segmentation.tflite_models import bright_is_cat_model, bright_square_photo

    model = bright_is_cat_model(tmp_path, "logits")  # a float graph (uint8 input)
    cache = tmp_path / "cache"
    photo = bright_square_photo()
    fp32 = OpenVinoTFLiteSegmenter(model, precision="fp32", num_threads=1)
    first = OpenVinoTFLiteSegmenter(
        model, precision="int8", num_threads=1, calibration=CALIBRATION, cache_dir=cache
    )
    assert spy.runs == [len(CALIBRATION)]
    (cached,) = cache.glob("*.int8-*.xml")
    assert cached.name.startswith(f"{model.stem}.")  # keyed by the file and its hash
    second = OpenVinoTFLiteSegmenter(
        model, precision="int8", num_threads=1, calibration=CALIBRATION, cache_dir=cache
    )
    assert spy.runs == [len(CALIBRATION)]  # the cached int8 IR was read
    expected = fp32.predict(photo).argmax(-1)
    for segmenter in (first, second):
        assert (segmenter.predict(photo).argmax(-1) == expected).mean() > 0.98
