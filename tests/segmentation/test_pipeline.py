"""The pipeline entry point, on a fast stand-in model and on the real DeepLabV3."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from segmentation import crf
from segmentation.errors import InvalidImage, NoObjectFound
from segmentation.options import StickerOptions
from segmentation.pipeline import (
    STAGES,
    Sticker,
    choose_target,
    detected_classes,
    make_sticker,
)
from segmentation.segmenter import load_segmenter
from tests.conftest import encode
from tests.standins import ColourSegmenter


def _rgba(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA"
    return np.asarray(image)


def test_auto_picks_the_largest_object(
    colour_segmenter: ColourSegmenter, two_animals: np.ndarray
) -> None:
    sticker = make_sticker(encode(two_animals, "PNG"), colour_segmenter)
    assert sticker.target == "cat"
    assert list(sticker.detected) == ["cat", "dog"]
    disc_share = np.pi * 90**2 / (300 * 400)
    assert sticker.detected["cat"] == pytest.approx(disc_share, rel=0.1)
    assert sticker.detected["dog"] == pytest.approx(80 * 80 / (300 * 400), rel=0.1)
    assert sticker.mask.shape == (300, 400)
    assert sticker.coverage == pytest.approx(disc_share, rel=0.1)
    rgba = _rgba(sticker.png)
    assert rgba.shape == (512, 512, 4)
    # The disc fills the sticker: the longer side of its box reaches (nearly) the edges.
    rows = np.nonzero(rgba[..., 3].any(axis=1))[0]
    assert rows[-1] - rows[0] > 440
    assert set(sticker.timings_ms) == {*STAGES, "total"}
    assert sticker.timings_ms["total"] == pytest.approx(sum(sticker.timings_ms[s] for s in STAGES))
    assert sticker.webp is not None
    assert sticker.webp[8:12] == b"WEBP"


def test_a_named_class_is_cut_out(
    colour_segmenter: ColourSegmenter, two_animals: np.ndarray
) -> None:
    sticker = make_sticker(
        encode(two_animals, "PNG"), colour_segmenter, StickerOptions(target="dogs")
    )
    assert sticker.target == "dog"
    ys, xs = np.nonzero(sticker.mask)
    assert 55 <= ys.min() <= 65
    assert 135 <= ys.max() <= 145
    assert 275 <= xs.min() <= 285
    assert 355 <= xs.max() <= 365


def test_absent_class_names_what_was_found(
    colour_segmenter: ColourSegmenter, two_animals: np.ndarray
) -> None:
    with pytest.raises(NoObjectFound) as info:
        make_sticker(encode(two_animals, "PNG"), colour_segmenter, StickerOptions(target="person"))
    assert info.value.target == "person"
    assert list(info.value.detected) == ["cat", "dog"]
    assert "'person'" in str(info.value)
    assert "cat (" in str(info.value)


def test_empty_photo_has_no_object(colour_segmenter: ColourSegmenter) -> None:
    grey = np.full((100, 100, 3), 128, np.uint8)
    with pytest.raises(NoObjectFound, match="detected: nothing"):
        make_sticker(encode(grey, "PNG"), colour_segmenter)


def test_mask_comes_back_at_the_photos_resolution_and_orientation(
    colour_segmenter: ColourSegmenter,
) -> None:
    # A 1200x600 photo stored sideways (EXIF orientation 6 = rotate 90° clockwise to view).
    stored = np.full((600, 1200, 3), 128, np.uint8)
    stored[100:300, 100:400] = (230, 30, 30)  # red block near the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", exif=exif, quality=95)
    sticker = make_sticker(buffer.getvalue(), colour_segmenter, StickerOptions(inference_side=256))
    assert sticker.mask.shape == (1200, 600)
    viewed = np.rot90(stored, k=-1)
    truth = (viewed[..., 0] > 180) & (viewed[..., 1] < 100)
    iou = (sticker.mask & truth).sum() / (sticker.mask | truth).sum()
    assert iou > 0.95


def test_crf_can_be_skipped(colour_segmenter: ColourSegmenter, two_animals: np.ndarray) -> None:
    data = encode(two_animals, "PNG")
    with_crf = make_sticker(data, colour_segmenter, StickerOptions(crf=True))
    without = make_sticker(data, colour_segmenter, StickerOptions(crf=False, webp=False))
    assert with_crf.crf
    assert not without.crf
    assert without.webp is None
    assert without.timings_ms["crf"] < with_crf.timings_ms["crf"]


def test_a_crf_that_removes_the_object_keeps_the_networks_mask(
    colour_segmenter: ColourSegmenter,
    two_animals: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def erase(rgb: np.ndarray, *args: object) -> np.ndarray:
        return np.zeros(rgb.shape[:2], np.float32)

    data = encode(two_animals, "PNG")
    network_only = make_sticker(data, colour_segmenter, StickerOptions(target="cat", crf=False))
    monkeypatch.setattr(crf, "refine_classes", erase)
    fallback = make_sticker(data, colour_segmenter, StickerOptions(target="cat"))
    assert fallback.mask.any()
    np.testing.assert_array_equal(fallback.mask, network_only.mask)
    assert "CRF removed the whole cat" in caplog.text


def test_invalid_bytes_never_reach_the_model(colour_segmenter: ColourSegmenter) -> None:
    with pytest.raises(InvalidImage):
        make_sticker(b"<html>not a photo</html>", colour_segmenter)
    assert colour_segmenter.calls == 0


def test_detected_and_choice_helpers() -> None:
    labels = np.zeros((10, 10), np.int64)
    labels[:5] = 8
    labels[9, 9] = 12  # 1% dog
    assert detected_classes(labels, 0.005) == {"cat": 0.5, "dog": 0.01}
    assert detected_classes(labels, 0.02) == {"cat": 0.5}
    assert choose_target("auto", {"dog": 0.3, "cat": 0.1}) == "dog"
    assert choose_target("kitty", {"dog": 0.3, "cat": 0.1}) == "cat"
    with pytest.raises(NoObjectFound):
        choose_target("auto", {})


def test_sticker_is_plain_picklable_data(
    colour_segmenter: ColourSegmenter, two_animals: np.ndarray
) -> None:
    import pickle

    sticker = make_sticker(encode(two_animals, "PNG"), colour_segmenter)
    copy = pickle.loads(pickle.dumps(sticker))
    assert isinstance(copy, Sticker)
    assert copy.png == sticker.png
    assert copy.target == "cat"


# --- real model --------------------------------------------------------------------------------


def _iou(mask: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> float:
    keep = np.ones_like(truth, bool) if ignore is None else ~ignore
    return float((mask & truth & keep).sum() / ((mask | truth) & keep).sum())


@pytest.fixture(scope="module")
def deeplab(deeplab_model_path: Path):  # type: ignore[no-untyped-def]
    return load_segmenter(str(deeplab_model_path))


@pytest.mark.slow
@pytest.mark.parametrize(("photo", "expected"), [("astronaut", "person"), ("chelsea", "cat")])
def test_real_model_auto_picks_the_subject(
    deeplab: object, photo: str, expected: str, request: pytest.FixtureRequest
) -> None:
    rgb = request.getfixturevalue(photo)
    sticker = make_sticker(encode(rgb, "PNG"), deeplab)  # type: ignore[arg-type]
    assert sticker.target == expected
    assert next(iter(sticker.detected)) == expected


@pytest.mark.slow
def test_real_model_cat_mask_iou(deeplab: object, shared_fixtures: Path) -> None:
    folder = shared_fixtures / "seed_cat"
    truth = np.asarray(Image.open(folder / "cat_annotation.png"))[..., 0] > 0
    sticker = make_sticker((folder / "cat.jpg").read_bytes(), deeplab, StickerOptions(target="cat"))  # type: ignore[arg-type]
    assert _iou(sticker.mask, truth) >= 0.80


@pytest.mark.slow
def test_real_model_dog_mask_iou(deeplab: object, shared_fixtures: Path) -> None:
    folder = shared_fixtures / "pet_dog"
    trimap = np.asarray(Image.open(folder / "trimap.bmp"))
    sticker = make_sticker(
        (folder / "image.bmp").read_bytes(), deeplab, StickerOptions(target="dog")
    )  # type: ignore[arg-type]
    assert _iou(sticker.mask, trimap == 0, ignore=trimap == 2) >= 0.85


@pytest.mark.slow
def test_real_model_person_mask_iou(deeplab: object, shared_fixtures: Path) -> None:
    folder = shared_fixtures / "voc_2007_000129"
    label = np.asarray(Image.open(folder / "label.png"))
    sticker = make_sticker(
        (folder / "image.jpg").read_bytes(), deeplab, StickerOptions(target="person")
    )  # type: ignore[arg-type]
    assert _iou(sticker.mask, label == 15, ignore=label == 255) >= 0.80


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 12_000),
    height=st.integers(1, 12_000),
    box=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    crf=st.booleans(),
)
def test_any_shape_gives_a_sticker_or_no_object(
    width: int, height: int, box: tuple[float, float, float, float], crf: bool
) -> None:
    """1x1, 10000x10, 10x10000 and everything between: a 512x512 sticker or NoObjectFound,
    never a crash in resizing, the CRF or compose."""
    height = max(1, min(height, 200_000 // width))  # keeps each example fast
    rgb = np.full((height, width, 3), 128, np.uint8)
    top, left = int(box[0] * height), int(box[1] * width)
    rgb[top : top + 1 + int(box[2] * height), left : left + 1 + int(box[3] * width)] = (230, 30, 30)
    try:
        sticker = make_sticker(encode(rgb, "PNG"), ColourSegmenter(), StickerOptions(crf=crf))
    except NoObjectFound:
        return
    assert _rgba(sticker.png).shape == (512, 512, 4)
    assert sticker.mask.shape == (height, width)
