"""Builders of small on-disk datasets for the dataset and evaluation tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def voc_palette() -> list[int]:
    """PASCAL VOC's colour map (the bit-interleaving one of the devkit), 256 RGB triples."""
    palette: list[int] = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def save_palette_mask(labels: np.ndarray, path: Path) -> None:
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(voc_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def write_voc(
    root: Path,
    pairs: dict[str, tuple[Path, np.ndarray]],
    *,
    split: str = "val",
) -> Path:
    """A VOCdevkit/VOC2012 tree under ``root``: photos copied byte for byte, palette masks."""
    voc = root / "VOCdevkit" / "VOC2012"
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    for name, (photo, labels) in pairs.items():
        shutil.copyfile(photo, voc / "JPEGImages" / f"{name}{photo.suffix}")
        save_palette_mask(labels, voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(pairs) + "\n")
    return voc
