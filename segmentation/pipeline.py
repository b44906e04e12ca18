"""The single entry point: photo bytes + options -> :class:`Sticker`.

The CLI and the bot call only :func:`make_sticker`, which is :func:`predict` (the stages
that need the model) followed by :func:`finish` (those that don't): a caller with many photos
(``stickerbot make DIR --jobs N``) runs the second half in other processes while the one
model predicts the next photo. Stages, each timed:

1. **decode** -- safe decoding (limits, EXIF orientation, odd modes), then a copy at the
   bounded inference resolution;
2. **model** -- the :class:`~segmentation.segmenter.Segmenter` gives class probabilities;
   the detected classes and the target are read from them;
3. **crf** -- dense CRF refines the target against the classes competing in its region;
4. **compose** -- the soft mask is brought back to the photo's resolution, the object is
   selected, cut out, outlined and fitted into 512x512;
5. **encode** -- PNG (<= 512 KB) and WEBP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from segmentation import compose, contour, crf
from segmentation.classes import AUTO, BACKGROUND, VOC_CLASSES, class_index, parse_class
from segmentation.errors import NoObjectFound
from segmentation.image import load_image, resize_longer_side
from segmentation.options import StickerOptions
from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

STAGES = ("decode", "model", "crf", "compose", "encode")


@dataclass(frozen=True, slots=True)
class Sticker:
    """A finished sticker and what was learned on the way (plain, picklable data)."""

    png: bytes
    webp: bytes | None
    # The final object mask at the photo's own resolution and orientation.
    mask: np.ndarray = field(repr=False)
    target: str
    # Class name -> share of the photo's pixels, largest first (background left out).
    detected: dict[str, float]
    # Share of the photo covered by the final mask.
    coverage: float
    crf: bool
    timings_ms: dict[str, float]


def detected_classes(labels: np.ndarray, min_share: float) -> dict[str, float]:
    """Share of pixels per non-background class present above ``min_share``, largest first."""
    counts = np.bincount(labels.ravel(), minlength=len(VOC_CLASSES))[: len(VOC_CLASSES)]
    shares = counts / max(1, labels.size)
    found = {
        VOC_CLASSES[i]: float(shares[i])
        for i in range(len(VOC_CLASSES))
        if i != BACKGROUND and shares[i] >= min_share
    }
    return dict(sorted(found.items(), key=lambda item: item[1], reverse=True))


def choose_target(requested: str, detected: dict[str, float]) -> str:
    """The class to cut out: the requested one if present, or the largest for ``auto``."""
    name = parse_class(requested)
    if name == AUTO:
        if not detected:
            raise NoObjectFound(AUTO, detected)
        return next(iter(detected))
    if name not in detected:
        raise NoObjectFound(name, detected)
    return name


@dataclass(frozen=True, slots=True)
class Prediction:
    """What :func:`predict` hands to :func:`finish`: plain, picklable data."""

    # The decoded photo (its own resolution) and the copy the network saw.
    photo: np.ndarray = field(repr=False)
    small: np.ndarray = field(repr=False)
    # Class probabilities (H x W x classes) at the resolution of ``small``.
    probs: np.ndarray = field(repr=False)
    target: str
    detected: dict[str, float]
    timings_ms: dict[str, float]


def make_sticker(
    data: bytes, segmenter: Segmenter, options: StickerOptions | None = None
) -> Sticker:
    """Turn photo bytes into a sticker. Raises :class:`~segmentation.errors.StickerError`."""
    options = options or StickerOptions()
    return finish(predict(data, segmenter, options), options)


def predict(data: bytes, segmenter: Segmenter, options: StickerOptions | None = None) -> Prediction:
    """The stages that need the model: decode, then the class probabilities and the target.
    Raises :class:`~segmentation.errors.StickerError` (e.g. no object of the target)."""
    options = options or StickerOptions()
    timings: dict[str, float] = {}
    with _timed(timings, "decode"):
        photo = load_image(data, options.limits)
        small = resize_longer_side(photo, options.inference_side)
    with _timed(timings, "model"):
        probs = segmenter.predict(small)
        detected = detected_classes(probs.argmax(axis=-1), options.min_detected_share)
        target = choose_target(options.target, detected)
    return Prediction(photo, small, probs, target, detected, timings)


def finish(prediction: Prediction, options: StickerOptions | None = None) -> Sticker:
    """The stages after the model: CRF, compose, encode (no model needed: runs anywhere)."""
    options = options or StickerOptions()
    timings = dict(prediction.timings_ms)
    photo, small, probs = prediction.photo, prediction.small, prediction.probs
    target, detected = prediction.target, prediction.detected
    index = class_index(target)
    with _timed(timings, "crf"):
        if options.crf:
            # refine_classes computes the network's two-label map itself: not done twice.
            prob = crf.refine_classes(small, probs, index, options.crf_params)
            if not np.any(prob > 0.5):
                logger.warning("CRF removed the whole %s; keeping the network's mask", target)
                prob = crf.target_probability(probs, index)
        else:
            prob = crf.target_probability(probs, index)
    with _timed(timings, "compose"):
        mask = _photo_mask(prob, photo.shape[0], photo.shape[1])
        mask = contour.select_object(mask, options.min_component_ratio, options.max_hole_ratio)
        if not mask.any():
            raise NoObjectFound(target, detected)
        rgba = compose.compose_sticker(photo, mask, options.contour)
    with _timed(timings, "encode"):
        png = compose.encode_png(rgba)
        webp = compose.encode_webp(rgba) if options.webp else None
    timings["total"] = sum(timings[stage] for stage in STAGES)
    logger.debug("sticker of %s: %s", target, timings)
    return Sticker(
        png=png,
        webp=webp,
        mask=mask,
        target=target,
        detected=detected,
        coverage=float(mask.mean()),
        crf=options.crf,
        timings_ms=timings,
    )


def _photo_mask(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """Threshold the target probability after resizing it (smoothly) to the photo's size."""
    if prob.shape != (height, width):
        from PIL import Image

        prob = np.asarray(
            Image.fromarray(prob.astype(np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
    return np.asarray(prob > 0.5)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the wall time of the ``with`` block as ``timings[stage]`` in milliseconds."""
    start = time.perf_counter()
    yield
    timings[stage] = (time.perf_counter() - start) * 1000.0
