"""Dataset discovery (VOC layout, images/ + masks/) and mask reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segmentation.datasets import Sample, discover, read_mask, read_sample
from segmentation.errors import DatasetError, StickerError
from tests.segmentation.datasets_kit import save_palette_mask, write_voc


def _photo(path: Path, size: tuple[int, int] = (6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path)
    return path


def _pairs(tmp_path: Path, names: list[str]) -> dict[str, tuple[Path, np.ndarray]]:
    return {
        name: (_photo(tmp_path / "src" / f"{name}.jpg"), np.full((4, 6), i, np.uint8))
        for i, name in enumerate(names)
    }


@pytest.mark.parametrize("level", ["VOCdevkit", "VOCdevkit/VOC2012", "."])
def test_voc_layout_is_found_from_any_level(tmp_path: Path, level: str) -> None:
    voc = write_voc(tmp_path / "data", _pairs(tmp_path, ["2007_000001", "2007_000002"]))
    root = tmp_path / "data" / level
    samples = discover(root)
    assert [s.name for s in samples] == ["2007_000001", "2007_000002"]
    assert samples[0] == Sample(
        "2007_000001",
        voc / "JPEGImages" / "2007_000001.jpg",
        voc / "SegmentationClass" / "2007_000001.png",
    )


def test_voc_split_and_augmented_masks(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, _pairs(tmp_path, ["a", "b"]), split="train")
    with pytest.raises(DatasetError, match=r"'val' split list .*val\.txt"):
        discover(tmp_path)
    assert len(discover(tmp_path, "train")) == 2
    with pytest.raises(DatasetError, match="no SegmentationClassAug/ folder"):
        discover(tmp_path, "train", aug=True)
    for name in ("a", "b"):
        save_palette_mask(np.zeros((4, 6), np.uint8), voc / "SegmentationClassAug" / f"{name}.png")
    samples = discover(tmp_path, "train", aug=True)
    assert samples[1].mask == voc / "SegmentationClassAug" / "b.png"


def test_voc_missing_files_and_empty_list_are_named(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, _pairs(tmp_path, ["a", "b"]))
    (voc / "SegmentationClass" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"1 mask file\(s\) missing: .*b\.png"):
        discover(tmp_path)
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match="names no sample"):
        discover(tmp_path)


def test_image_mask_pairs_are_matched_by_stem(tmp_path: Path) -> None:
    _photo(tmp_path / "images" / "b.png")
    _photo(tmp_path / "images" / "a.jpg")
    (tmp_path / "images" / "notes.txt").write_text("not a photo")
    for name in ("a", "b", "extra"):
        save_palette_mask(np.zeros((4, 6), np.uint8), tmp_path / "masks" / f"{name}.png")
    samples = discover(tmp_path)
    assert [(s.name, s.image.name, s.mask.name) for s in samples] == [
        ("a", "a.jpg", "a.png"),
        ("b", "b.png", "b.png"),
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "is not a dataset"),
        (lambda root: (root / "images").mkdir(), "has no masks/ folder"),
        (lambda root: [(root / d).mkdir() for d in ("images", "masks")], "holds no photo"),
        (lambda root: (_photo(root / "images" / "x.jpg"), (root / "masks").mkdir()), "x.png"),
    ],
)
def test_malformed_folders_raise_a_dataset_error(
    tmp_path: Path, setup: Callable[[Path], object], message: str
) -> None:
    setup(tmp_path)
    with pytest.raises(DatasetError, match=message) as caught:
        discover(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert isinstance(caught.value, StickerError)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"not found: .*nowhere"):
        discover(tmp_path / "nowhere")


def test_palette_mask_reads_as_indices_not_colours(tmp_path: Path) -> None:
    labels = np.array([[0, 15, 255], [8, 20, 1]], np.uint8)
    save_palette_mask(labels, tmp_path / "m.png")
    with Image.open(tmp_path / "m.png") as image:
        assert image.mode == "P"
        assert image.convert("RGB").getpixel((1, 0)) == (192, 128, 128)  # VOC's person colour
    mask = read_mask(tmp_path / "m.png")
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, labels)


def test_grey_mask_reads_as_is_and_colour_mask_is_refused(tmp_path: Path) -> None:
    labels = np.array([[0, 15], [255, 3]], np.uint8)
    Image.fromarray(labels, mode="L").save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "grey.png"), labels)
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(DatasetError, match=r"rgb\.png.* RGB image; expected class indices"):
        read_mask(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read mask"):
        read_mask(tmp_path / "junk.png")


def test_sample_whose_mask_size_differs_is_refused(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.jpg", (6, 4))
    save_palette_mask(np.zeros((5, 6), np.uint8), tmp_path / "p.png")
    with pytest.raises(DatasetError, match=r"photo is 6x4 but its mask .* is 6x5"):
        read_sample(Sample("p", photo, tmp_path / "p.png"))
