"""Labelled segmentation datasets on disk: find the (photo, mask) pairs and read them.

Two layouts are understood:

* **PASCAL VOC**: ``ImageSets/Segmentation/<split>.txt`` lists the sample names, the photos
  are ``JPEGImages/<name>.jpg`` (or another photo suffix) and the masks
  ``SegmentationClass/<name>.png`` (palette PNGs whose palette *indices* are the class
  labels), or ``SegmentationClassAug/<name>.png`` for
  the augmented set (``aug=True``). The root may be that folder itself, ``VOC2012`` or the
  ``VOCdevkit`` above it.
* **images/ + masks/**: every photo in ``images/`` has a single-channel mask of the same stem
  in ``masks/`` (``split`` does not apply).

Masks hold class indices (0 background ... 20 tvmonitor for VOC) and 255 for void pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from segmentation.errors import DatasetError, StickerError
from segmentation.image import load_image

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# A dataset error lists this many offending names, then a count.
_LISTED: Final = 5
# Pillow modes whose pixel values are class indices as they are.
_INDEX_MODES: Final = ("P", "L")


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled photo: its name, the photo's path and the mask's path."""

    name: str
    image: Path
    mask: Path


def discover(root: Path, split: str = "val", *, aug: bool = False) -> list[Sample]:
    """The samples of the dataset at ``root``, in the order the dataset lists them.

    Raises :class:`DatasetError` naming the path and the problem when ``root`` is neither
    layout, lists no sample, or misses a photo or a mask.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {str(root)!r}")
    voc = _voc_root(root)
    if voc is not None:
        return _voc_samples(voc, split, aug=aug)
    if (root / "images").is_dir() or (root / "masks").is_dir():
        return _pair_samples(root)
    raise DatasetError(
        f"{str(root)!r} is not a dataset: expected a PASCAL VOC layout (VOCdevkit/VOC2012 with "
        "ImageSets/Segmentation, JPEGImages, SegmentationClass) or an images/ + masks/ pair"
    )


def _voc_root(root: Path) -> Path | None:
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    return None


def _listing(names: list[str]) -> str:
    more = f", ... and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


def _voc_samples(voc: Path, split: str, *, aug: bool) -> list[Sample]:
    listing = voc / "ImageSets" / "Segmentation" / f"{split}.txt"
    try:
        text = listing.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read the {split!r} split list {str(listing)!r}: {exc}") from exc
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"the split list {str(listing)!r} names no sample")
    masks = voc / ("SegmentationClassAug" if aug else "SegmentationClass")
    for folder in (voc / "JPEGImages", masks):
        if not folder.is_dir():
            raise DatasetError(f"{str(voc)!r} has no {folder.name}/ folder")
    samples = [
        Sample(name, _voc_photo(voc / "JPEGImages", name), masks / f"{name}.png") for name in names
    ]
    _check_files(samples, str(listing))
    return samples


def _voc_photo(folder: Path, name: str) -> Path:
    """``<name>.jpg`` as VOC has it, or the same name with another photo suffix."""
    jpg = folder / f"{name}.jpg"
    if jpg.is_file():
        return jpg
    others = (folder / f"{name}{suffix}" for suffix in IMAGE_SUFFIXES)
    return next((path for path in others if path.is_file()), jpg)


def _pair_samples(root: Path) -> list[Sample]:
    for folder in (root / "images", root / "masks"):
        if not folder.is_dir():
            raise DatasetError(f"{str(root)!r} has no {folder.name}/ folder beside the other")
    images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"{str(root / 'images')!r} holds no photo ({', '.join(IMAGE_SUFFIXES)})")
    stems = [p.stem for p in images]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if duplicated:
        raise DatasetError(
            f"{str(root / 'images')!r}: several photos share a name: {_listing(duplicated)}"
        )
    samples = [Sample(p.stem, p, root / "masks" / f"{p.stem}.png") for p in images]
    _check_files(samples, str(root))
    return samples


def _check_files(samples: list[Sample], where: str) -> None:
    for kind in ("image", "mask"):
        missing = [str(getattr(s, kind)) for s in samples if not getattr(s, kind).is_file()]
        if missing:
            raise DatasetError(
                f"{where}: {len(missing)} {kind} file(s) missing: {_listing(missing)}"
            )


def read_mask(path: Path) -> npt.NDArray[np.uint8]:
    """The ``H x W`` ``uint8`` class indices of a mask PNG (palette indices, not colours).

    Raises :class:`DatasetError` for an unreadable file or a colour (RGB) mask.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in _INDEX_MODES:
                raise DatasetError(
                    f"mask {str(path)!r} is a {image.mode} image; expected class indices "
                    "(a palette PNG or single-channel 8-bit)"
                )
            return np.array(image, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"cannot read mask {str(path)!r}: {exc}") from exc


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """The ``H x W x 3`` ``uint8`` RGB photo of a sample (safe decoding, EXIF upright)."""
    try:
        return load_image(path.read_bytes())
    except (OSError, StickerError) as exc:
        raise DatasetError(f"cannot read photo {str(path)!r}: {exc}") from exc


def read_sample(sample: Sample) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Photo and mask of ``sample``; refuses a pair whose sizes differ."""
    rgb, mask = read_image(sample.image), read_mask(sample.mask)
    if rgb.shape[:2] != mask.shape:
        raise DatasetError(
            f"{sample.name}: photo is {rgb.shape[1]}x{rgb.shape[0]} but its mask "
            f"{str(sample.mask)!r} is {mask.shape[1]}x{mask.shape[0]}"
        )
    return rgb, mask
