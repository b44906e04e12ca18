"""Test-time augmentation: a :class:`~segmentation.segmenter.Segmenter` that runs another one on
rescaled and mirrored copies of the photo and averages the class probabilities.

DeepLabV3's logits come at output stride 16 and are resized bilinearly inside the graph, so
its edges sit on a ~16 px grid of its 513 px input. Running the same network on a larger
copy of the photo puts that grid ~16 / scale px apart in the photo; a left-right mirror
shifts where the grid falls relative to the object. Averaging the views is DeepLab's own
evaluation protocol (multi-scale inputs and flips, Chen et al. 2017).

A network with a fixed input (the TFLite and frozen-graph DeepLabs: 513 x 513, see
:func:`native_input_size`) cannot take an enlarged photo whole: the enlarged copy is cut into
input-sized windows that overlap by :attr:`TtaOptions.tile_overlap` pixels, and each window's
probabilities are blended in with a weight that ramps up from its inner edges, so a window's
border (where the network lacks context) counts least. A fully convolutional network
(FCN-8s in Keras or OpenVINO) takes the rescaled photo whole.

Only plain arrays go in and out: the wrapper satisfies the ``Segmenter`` protocol and loads
nothing itself (``load_segmenter(..., tta=TtaOptions(...))`` wraps the loaded model).
"""

from __future__ import annotations

import logging
import math
from typing import Final

import numpy as np
from PIL import Image

from segmentation.backends.probabilities import normalised, resize_probabilities, softmax
from segmentation.options import TTA_AVERAGES, TtaOptions, describe_tta, parse_tta
from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

__all__ = [
    "TtaSegmenter",
    "describe_tta",
    "native_input_size",
    "parse_tta",
    "predict_tiled",
    "window_starts",
]

# Windows are padded with DeepLab's mid-grey where the photo does not fill them (what the
# fixed-input backends do themselves: segmentation.backends.tflite.PAD_GREY).
PAD_GREY: Final = (128, 128, 128)
# A window's weight at its very edge (inside the photo): small but positive, so every pixel
# has a defined blend even where only one window's edge covers it.
MIN_WINDOW_WEIGHT: Final = 1e-3
# log-averaging floors probabilities here (uint8-quantised logits give exact zeros).
MIN_LOG_PROBABILITY: Final = 1e-8


def native_input_size(segmenter: object) -> tuple[int, int] | None:
    """The fixed ``(height, width)`` a segmenter's network takes (it resizes any photo to fit
    it), or None for a fully convolutional one that takes a photo of any size whole.

    Read from an optional ``input_size`` attribute (the TFLite, OpenVINO-TFLite and frozen
    graph backends have one)."""
    size = getattr(segmenter, "input_size", None)
    if size is None:
        return None
    height, width = (int(v) for v in size)
    return height, width


class TtaSegmenter:
    """``inner`` run on every scale of ``options`` (and its mirror image when ``flip``),
    probabilities averaged at the input's resolution.

    Scale 1 is the inner model's own view of the photo, called exactly as without TTA; other
    scales resize the photo bilinearly first. ``passes`` counts the network runs per photo.
    """

    def __init__(self, inner: Segmenter, options: TtaOptions) -> None:
        if not options.scales or any(s <= 0 for s in options.scales):
            raise ValueError(f"TTA scales must be positive, got {options.scales}")
        if options.average not in TTA_AVERAGES:
            raise ValueError(
                f"unknown TTA average {options.average!r}; expected one of {TTA_AVERAGES}"
            )
        self.inner = inner
        self.options = options
        self.name = inner.name
        self.backend = inner.backend
        self.precision = inner.precision
        self.device = inner.device
        self.classes = inner.classes
        self.input_size = native_input_size(inner)
        if self.input_size is not None and options.tile_overlap >= min(self.input_size):
            raise ValueError(
                f"tile_overlap must be below the model's input side {min(self.input_size)}, "
                f"got {options.tile_overlap}"
            )

    def warmup(self) -> None:
        self.inner.warmup()

    def passes(self, height: int, width: int) -> int:
        """How many times :meth:`predict` runs the network on a ``height x width`` photo."""
        total = 0
        for scale in self.options.scales:
            h, w = _scaled(height, width, scale)
            if scale == 1.0 or self.input_size is None:
                views = 1
            else:
                in_h, in_w = self.input_size
                overlap = self.options.tile_overlap
                views = len(window_starts(h, in_h, overlap)) * len(window_starts(w, in_w, overlap))
            total += views
        return total * (2 if self.options.flip else 1)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        if not self.options.enabled:
            return self.inner.predict(rgb)
        height, width = rgb.shape[:2]
        log = self.options.average == "log"
        total: np.ndarray | None = None
        views = 0
        for scale in self.options.scales:
            h, w = _scaled(height, width, scale)
            scaled = rgb if (h, w) == (height, width) else _resize(rgb, h, w)
            mirrors = (False, True) if self.options.flip else (False,)
            for mirror in mirrors:
                view = np.ascontiguousarray(scaled[:, ::-1]) if mirror else scaled
                probs = self._predict_view(view, native=scale == 1.0)
                if mirror:
                    probs = probs[:, ::-1]
                probs = resize_probabilities(np.ascontiguousarray(probs), height, width)
                if log:
                    probs = np.log(np.maximum(probs, MIN_LOG_PROBABILITY))
                total = probs if total is None else total + probs
                views += 1
        assert total is not None  # at least one scale
        if log:
            return softmax(total / np.float32(views))
        return normalised(total)

    # --- one view ------------------------------------------------------------------------

    def _predict_view(self, rgb: np.ndarray, *, native: bool) -> np.ndarray:
        """Probabilities of one (rescaled, maybe mirrored) view at its own resolution."""
        if native or self.input_size is None:
            return self.inner.predict(rgb)
        return predict_tiled(self.inner, rgb, self.input_size, self.options.tile_overlap)


def predict_tiled(
    segmenter: Segmenter, rgb: np.ndarray, input_size: tuple[int, int], overlap: int
) -> np.ndarray:
    """``segmenter``'s probabilities for ``rgb`` of any size, from ``input_size`` windows
    (padded with grey where ``rgb`` is smaller) that overlap by at least ``overlap`` px,
    blended with weights ramping up over ``overlap`` px from their edges inside ``rgb``."""
    in_h, in_w = input_size
    height, width = rgb.shape[:2]
    rows, cols = window_starts(height, in_h, overlap), window_starts(width, in_w, overlap)
    out: np.ndarray | None = None
    weights = np.zeros((height, width), np.float32)
    for top in rows:
        for left in cols:
            h, w = min(in_h, height - top), min(in_w, width - left)
            canvas = np.empty((in_h, in_w, 3), np.uint8)
            canvas[...] = np.asarray(PAD_GREY, np.uint8)
            canvas[:h, :w] = rgb[top : top + h, left : left + w]
            probs = segmenter.predict(canvas)[:h, :w]
            weight = np.outer(
                _ramp(h, overlap, top > 0, top + h < height),
                _ramp(w, overlap, left > 0, left + w < width),
            )
            if out is None:
                out = np.zeros((height, width, probs.shape[-1]), np.float32)
            out[top : top + h, left : left + w] += probs * weight[..., np.newaxis]
            weights[top : top + h, left : left + w] += weight
    assert out is not None  # at least one window
    out /= weights[..., np.newaxis]
    return out


def window_starts(size: int, window: int, overlap: int) -> list[int]:
    """Window offsets along one axis: evenly spread, adjacent ones overlapping by at least
    ``overlap``, the first at 0 and the last ending at ``size``."""
    if size <= window:
        return [0]
    count = math.ceil((size - window) / (window - overlap)) + 1
    return [round(i * (size - window) / (count - 1)) for i in range(count)]


def _scaled(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def _ramp(size: int, overlap: int, start: bool, end: bool) -> np.ndarray:
    """1 in the middle, rising linearly over ``overlap`` px from each edge that lies inside
    the photo (``start``/``end``), flat to the photo's own edges."""
    ramp = np.ones(size, np.float32)
    if overlap <= 0:
        return ramp
    rising = ((np.arange(size, dtype=np.float32) + 0.5) / overlap).clip(MIN_WINDOW_WEIGHT, 1.0)
    if start:
        ramp = np.minimum(ramp, rising)
    if end:
        ramp = np.minimum(ramp, rising[::-1])
    return ramp
