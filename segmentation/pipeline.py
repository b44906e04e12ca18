"""The single entry point: photo bytes + options -> :class:`Sticker`.

The CLI and the bot call only :func:`make_sticker`, which is :func:`predict` (the stages
that need the model) followed by :func:`finish` (those that don't): a caller with many photos
(``stickerbot make DIR --jobs N``) runs the second half in other processes while the one
model predicts the next photo. Stages, each timed:

1. **decode** -- safe decoding (limits, EXIF orientation, odd modes), then a copy at the
   bounded inference resolution;
2. **model** -- the :class:`~segmentation.segmenter.Segmenter` gives class probabilities;
   the detected classes and the target are read from them; with ``options.zoom``, the
   network looks again at the target's window of the full-resolution photo and its answer
   replaces the first one's along the object's edge (:mod:`segmentation.zoom`);
3. **crf** -- dense CRF (the preset tuned for the segmenter, or as asked) refines the target
   against the classes competing in its region;
4. **compose** -- the object is selected at inference resolution; only its window of the
   photo and of the probability is resampled, once, to the sticker's scale, where the soft
   alpha, the edge colours and the outline are made;
5. **mask** -- the object's mask at the photo's resolution (``Sticker.mask``; the only step
   whose time grows with the photo);
6. **encode** -- PNG (<= 512 KB) and WEBP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from segmentation import compose, contour, crf, zoom
from segmentation.classes import AUTO, BACKGROUND, VOC_CLASSES, class_index, parse_class
from segmentation.errors import NoObjectFound
from segmentation.image import load_image, resize_longer_side
from segmentation.options import CrfParams, StickerOptions
from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

STAGES = ("decode", "model", "crf", "compose", "mask", "encode")


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


def detected_classes(
    labels: np.ndarray, min_share: float, classes: Sequence[str] = VOC_CLASSES
) -> dict[str, float]:
    """Share of pixels per non-background class present above ``min_share``, largest first."""
    counts = np.bincount(labels.ravel(), minlength=len(classes))[: len(classes)]
    shares = counts / max(1, labels.size)
    found = {
        classes[i]: float(shares[i])
        for i in range(len(classes))
        if i != BACKGROUND and shares[i] >= min_share
    }
    return dict(sorted(found.items(), key=lambda item: item[1], reverse=True))


def choose_target(
    requested: str, detected: dict[str, float], classes: Sequence[str] = VOC_CLASSES
) -> str:
    """The class to cut out: the requested one if present, or the largest for ``auto``."""
    name = parse_class(requested, classes=classes)
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
    # The segmenter's name: the CRF preset "tuned" depends on it (segmentation.crf.preset).
    model: str = ""
    # The model's class names (background first): ``probs``' last axis.
    classes: tuple[str, ...] = VOC_CLASSES


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
        classes = segmenter.classes
        detected = detected_classes(probs.argmax(axis=-1), options.min_detected_share, classes)
        target = choose_target(options.target, detected, classes)
        if options.zoom.enabled:
            probs = zoom_edge(segmenter, photo, probs, class_index(target, classes), options)
    return Prediction(
        photo, small, probs, target, detected, timings, segmenter.name, tuple(classes)
    )


def zoom_edge(
    segmenter: Segmenter,
    photo: np.ndarray,
    probs: np.ndarray,
    index: int,
    options: StickerOptions,
) -> np.ndarray:
    """``probs`` with the object zoom pass (:mod:`segmentation.zoom`) fused in along the
    edge of class ``index``."""
    fused, _ = zoom.zoom_probabilities(segmenter, photo, probs, index, options.zoom)
    return fused


def finish(prediction: Prediction, options: StickerOptions | None = None) -> Sticker:
    """The stages after the model: CRF, compose, encode (no model needed: runs anywhere)."""
    options = options or StickerOptions()
    timings = dict(prediction.timings_ms)
    photo, small, probs = prediction.photo, prediction.small, prediction.probs
    target, detected = prediction.target, prediction.detected
    index = class_index(target, prediction.classes)
    with _timed(timings, "crf"):
        prob = refined_probability(small, probs, index, options, prediction.model)
    with _timed(timings, "compose"):
        prob = select_object(prob, options)
        if not np.any(prob > 0.5):
            raise NoObjectFound(target, detected)
        rgba = compose.compose_sticker(photo, prob, options.outline, soft=options.soft_edge)
    with _timed(timings, "mask"):
        mask = photo_mask(prob, photo.shape[0], photo.shape[1])
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


def crf_params(options: StickerOptions, segmenter_name: str) -> CrfParams:
    """The CRF parameters ``options`` ask for with this segmenter (explicit, else preset)."""
    if options.crf_params is not None:
        return options.crf_params
    return crf.preset(options.crf_preset, segmenter_name)


def refined_probability(
    small: np.ndarray,
    probs: np.ndarray,
    index: int,
    options: StickerOptions,
    segmenter_name: str = "",
) -> np.ndarray:
    """The target's two-label probability at inference resolution, CRF-refined when
    ``options.crf``; the network's own when the CRF would remove the whole object."""
    network = crf.target_probability(probs, index)
    if not options.crf:
        return network
    prob = crf.refine_classes(small, probs, index, crf_params(options, segmenter_name))
    if not np.any(prob > 0.5):
        logger.warning("CRF removed the whole %s; keeping the network's mask", VOC_CLASSES[index])
        return network
    return prob


def select_object(prob: np.ndarray, options: StickerOptions) -> np.ndarray:
    """``prob`` reduced to the object (:func:`segmentation.contour.select_object` on
    ``prob > 0.5``): dropped pieces become 0, filled holes 1, the rest keeps its soft edge."""
    raw = prob > 0.5
    kept = contour.select_object(raw, options.min_component_ratio, options.max_hole_ratio)
    result = np.where(raw & ~kept, np.float32(0), prob)
    result[kept & ~raw] = 1.0
    return np.asarray(result, dtype=np.float32)


def photo_mask(prob: np.ndarray, height: int, width: int) -> np.ndarray:
    """The object's binary mask at the photo's resolution: ``prob`` resized bilinearly, > 0.5.

    Resized as 8-bit (0.5 is code 128 of 255): a quarter of float32's memory traffic on a
    16 MP photo.
    """
    if prob.shape == (height, width):
        return np.asarray(prob > 0.5)
    codes = Image.fromarray(np.rint(np.clip(prob, 0.0, 1.0) * 255).astype(np.uint8))
    return np.asarray(codes.resize((width, height), Image.Resampling.BILINEAR)) >= 128


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the wall time of the ``with`` block as ``timings[stage]`` in milliseconds."""
    start = time.perf_counter()
    yield
    timings[stage] = (time.perf_counter() - start) * 1000.0
