"""The OpenVINO backend: FCN-8s converted from Keras computes what Keras computes (fp32),
nearly so in bf16; the IR is converted once per weights and OpenVINO version; TFLite models
read by OpenVINO agree with LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino extra is not installed")

from segmentation.backends import openvino as ov_backend
from segmentation.backends.fcn8s_input import WARMUP_BUCKETS
from segmentation.errors import ModelUnavailable
from segmentation.models import digests
from segmentation.models.digests import sidecar_path
from segmentation.segmenter import (
    Fcn8sSegmenter,
    OpenVinoFcn8sSegmenter,
    OpenVinoTFLiteSegmenter,
    Segmenter,
    TFLiteSegmenter,
    load_segmenter,
)

SHAPES = [(70, 90), (128, 96)]  # padded to different buckets; neither a multiple of 32


def _photo(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smooth colour regions (a photo-like input, not white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    from PIL import Image

    return np.asarray(Image.fromarray(small).resize(shape[::-1], Image.Resampling.BILINEAR))


@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_ir_computes_what_keras_computes(
    tiny_model: object, tiny_ir: Path, shape: tuple[int, int]
) -> None:
    keras_probs = Fcn8sSegmenter(tiny_model).predict(_photo(shape))  # type: ignore[arg-type]
    segmenter = OpenVinoFcn8sSegmenter(tiny_ir, precision="fp32", num_threads=1)
    assert isinstance(segmenter, Segmenter)
    assert (segmenter.backend, segmenter.precision) == ("openvino", "fp32")
    probs = segmenter.predict(_photo(shape))
    assert probs.shape == (*shape, 21)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(probs, keras_probs, atol=2e-4)
    assert len(np.unique(probs.argmax(-1))) > 1  # the comparison is not between constants


@pytest.mark.skipif(not ov_backend.native_bf16(), reason="this CPU has no native bfloat16")
def test_bf16_is_close_to_fp32(tiny_ir: Path) -> None:
    fp32 = OpenVinoFcn8sSegmenter(tiny_ir, precision="fp32", num_threads=1)
    bf16 = OpenVinoFcn8sSegmenter(tiny_ir, precision="auto", num_threads=1)
    assert bf16.precision == "bf16"
    photo = _photo(SHAPES[1], seed=1)
    reference, reduced = fp32.predict(photo), bf16.predict(photo)
    assert not np.array_equal(reference, reduced)  # it does compute in another precision
    assert (reduced.argmax(-1) == reference.argmax(-1)).mean() > 0.95
    np.testing.assert_allclose(reduced.sum(-1), 1.0, atol=1e-3)


def test_unknown_precision_is_refused(tiny_ir: Path) -> None:
    with pytest.raises(ModelUnavailable, match="'int8-dynamic'"):
        OpenVinoFcn8sSegmenter(tiny_ir, precision="int8-dynamic")


def test_ir_is_converted_once_per_weights_and_version(
    tiny_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "fcn8s_voc2012.weights.h5"
    weights.write_bytes(b"first weights")
    conversions: list[Path] = []
    real_convert = ov_backend.convert_fcn8s

    def counting_convert(model: object, xml: Path) -> Path:
        conversions.append(xml)
        return real_convert(model, xml)  # type: ignore[arg-type]

    monkeypatch.setattr(ov_backend, "convert_fcn8s", counting_convert)
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny_model)
    monkeypatch.setattr(ov_backend, "WARMUP_BUCKETS", ((64, 64),))
    hashed: list[Path] = []
    real_sha256_of = digests.sha256_of

    def counting_sha256_of(path: Path) -> str:
        hashed.append(path)
        return real_sha256_of(path)

    monkeypatch.setattr(digests, "sha256_of", counting_sha256_of)
    monkeypatch.setattr(digests, "RACY_SECONDS", 0.0)  # as if written long before the load

    first = load_segmenter("fcn8s", weights=weights, backend="openvino", num_threads=1)
    assert isinstance(first, OpenVinoFcn8sSegmenter)
    first.warmup()
    load_segmenter("fcn8s", weights=weights, backend="openvino", num_threads=1)
    assert len(conversions) == 1  # the second load read the cached IR
    assert hashed == [weights]  # ... and did not read the weights again to find it
    (xml,) = conversions
    assert xml.parent == tmp_path
    assert xml.name.startswith("fcn8s_voc2012.")
    assert ".openvino-" in xml.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [weights.name, sidecar_path(weights).name, xml.name, xml.with_suffix(".bin").name]
    )
    weights.write_bytes(b"new weights")  # other weights: another key, converted again
    load_segmenter("fcn8s", weights=weights, backend="openvino", num_threads=1)
    assert len(conversions) == 2
    assert hashed == [weights, weights]
    assert conversions[1] != conversions[0]


def test_weights_in_a_read_only_folder_are_converted_in_memory(
    tiny_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "fcn8s_voc2012.weights.h5"
    weights.write_bytes(b"weights")
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny_model)

    def refuse(model: object, xml: Path) -> Path:
        raise PermissionError(13, "Permission denied", str(xml))

    monkeypatch.setattr(ov_backend, "convert_fcn8s", refuse)
    segmenter = load_segmenter("fcn8s", weights=weights, backend="openvino", num_threads=1)
    assert segmenter.predict(_photo((64, 64))).shape == (64, 64, 21)
    assert sorted(p for p in tmp_path.iterdir() if p != sidecar_path(weights)) == [weights]


def test_missing_weights_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="stickerbot weights download"):
        load_segmenter("fcn8s", cache_dir=tmp_path, backend="openvino")


def test_warmup_buckets_are_the_keras_ones() -> None:
    # The bucket shapes the IR is warmed on are those Keras pads to (same input, same output).
    from segmentation.fcn8s import WARMUP_BUCKETS as KERAS_BUCKETS

    assert WARMUP_BUCKETS == KERAS_BUCKETS


@pytest.mark.slow
def test_tflite_model_in_openvino_agrees_with_litert(
    deeplab_model_path: Path, astronaut: np.ndarray
) -> None:
    litert = TFLiteSegmenter(deeplab_model_path, num_threads=1)
    openvino = load_segmenter(str(deeplab_model_path), backend="openvino", num_threads=1)
    assert isinstance(openvino, OpenVinoTFLiteSegmenter)
    reference = litert.predict(astronaut).argmax(-1)
    labels = openvino.predict(astronaut).argmax(-1)
    assert labels.shape == reference.shape
    assert (labels == reference).mean() > 0.97
