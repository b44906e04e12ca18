"""Bad training data, found before the first step and named file by file.

Every pair is opened once: a photo or mask that cannot be read, a mask whose size differs
from its photo, or labels outside the class list stop the run with a :class:`BadSample`
message naming the file and the problem; with ``skip_bad`` such pairs are left out, logged
and counted instead. An empty split is always an error. Nothing bad is silently trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segmentation.classes import VOID_LABEL
from segmentation.datasets import Sample, read_mask
from segmentation.errors import DatasetError

logger = logging.getLogger(__name__)

# The EXIF tag that tells viewers to rotate or flip the stored pixels.
_EXIF_ORIENTATION = 0x0112


class BadSample(ValueError):
    """A training pair that cannot be trained on; the message names the file."""


class EmptySplit(ValueError):
    """No usable training pair."""


@dataclass(frozen=True, slots=True)
class CheckedData:
    """The usable pairs, the labels present in each, and the refused pairs' reasons."""

    samples: tuple[Sample, ...]
    labels: tuple[frozenset[int], ...]
    skipped: tuple[str, ...]


def read_label_mask(path: Path) -> np.ndarray:
    """HxW uint8 label values of a palette or grey PNG (``segmentation.datasets.read_mask``)."""
    return read_mask(path)


def _problem(sample: Sample, num_labels: int) -> tuple[str | None, frozenset[int]]:
    try:
        with Image.open(sample.image) as photo:
            photo.verify()  # must come right after opening
        with Image.open(sample.image) as photo:
            photo_size = photo.size
            orientation = photo.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        return f"{sample.image}: unreadable photo ({exc})", frozenset()
    if orientation not in (0, 1):
        # The training pipeline decodes pixels as stored; a viewer (and a mask drawn on
        # it) shows them turned. Refused rather than trained on a mismatched pair.
        return (
            f"{sample.image}: EXIF orientation {orientation} (shown rotated or flipped); "
            "save the photo upright, e.g. `mogrify -auto-orient`",
            frozenset(),
        )
    try:
        mask = read_label_mask(sample.mask)
    except DatasetError as exc:
        return f"{sample.mask}: unreadable mask ({exc})", frozenset()
    if (mask.shape[1], mask.shape[0]) != photo_size:
        return (
            f"{sample.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its photo "
            f"{sample.image.name} is {photo_size[0]}x{photo_size[1]}",
            frozenset(),
        )
    present = frozenset(int(v) for v in np.unique(mask))
    outside = sorted(v for v in present if v >= num_labels and v != VOID_LABEL)
    if outside:
        return (
            f"{sample.mask}: labels {', '.join(map(str, outside[:8]))} outside the "
            f"{num_labels} classes (0..{num_labels - 1}, {VOID_LABEL} = void)",
            present,
        )
    return None, present - {VOID_LABEL}


def check_samples(
    samples: Sequence[Sample], num_labels: int, *, skip_bad: bool = False
) -> CheckedData:
    """Open every pair; refuse (or, with ``skip_bad``, leave out) the bad ones.

    ``num_labels`` is the size of the dataset's own class list (label values 0..n-1 and
    255 are valid). Raises :class:`BadSample` or :class:`EmptySplit`.
    """
    if not samples:
        raise EmptySplit("the training split is empty: no photo with a mask was found")
    good: list[Sample] = []
    labels: list[frozenset[int]] = []
    skipped: list[str] = []
    for sample in samples:
        problem, present = _problem(sample, num_labels)
        if problem is None:
            good.append(sample)
            labels.append(present)
        elif skip_bad:
            logger.warning("skipping %s", problem)
            skipped.append(problem)
        else:
            raise BadSample(f"{problem} (use --skip-bad to leave such pairs out)")
    if not good:
        raise EmptySplit(f"no usable training pair: all {len(samples)} were bad")
    if skipped:
        logger.warning("left out %d bad pair(s) of %d", len(skipped), len(samples))
    return CheckedData(tuple(good), tuple(labels), tuple(skipped))
