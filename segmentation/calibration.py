"""Calibration photos for int8 quantisation, named by the user: files or folders of them.

``stickerbot make/export --calibration PATH...`` and the bot's ``MODEL_CALIBRATION_DIR`` pass
plain paths; :func:`calibration_files` checks them without decoding (the bot's settings
validation), :func:`calibration_photos` decodes them when the model is quantised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segmentation.batch import IMAGE_SUFFIXES, expand
from segmentation.errors import ImageTooLarge, InvalidImage, ModelUnavailable


def calibration_files(specs: Sequence[Path]) -> list[Path]:
    """The photo files ``specs`` name (a folder: the image files directly inside it).

    Raises :class:`ModelUnavailable` naming the path that does not exist, or all of them
    when they hold no photo."""
    try:
        paths = expand(specs)
    except OSError as exc:
        raise ModelUnavailable(f"cannot read the calibration photos: {exc}") from exc
    if not paths:
        raise ModelUnavailable(
            "no calibration photos in "
            + ", ".join(repr(str(spec)) for spec in specs)
            + f" (image files: {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return paths


def calibration_photos(specs: Sequence[Path]) -> list[np.ndarray]:
    """The photos ``specs`` name, decoded (RGB uint8); :class:`ModelUnavailable` names an
    unreadable one."""
    from segmentation.image import load_image

    photos = []
    for path in calibration_files(specs):
        try:
            photos.append(load_image(path.read_bytes()))
        except (OSError, InvalidImage, ImageTooLarge) as exc:
            raise ModelUnavailable(
                f"cannot read the calibration photo {str(path)!r}: {exc}"
            ) from exc
    return photos
