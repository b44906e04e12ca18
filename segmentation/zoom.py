"""Object zoom: a second network pass on the target's own window of the full-resolution
photo, fused into the first pass's probabilities only along the object's edge.

DeepLabV3's logits come at output stride 16, so on the 513 px view of a whole photo its edges
sit on a ~16 px grid; an object filling a third of the photo gets a third of the network's
pixels. After the plain pass has picked the target, :func:`zoom_window` takes the object's
bounding box plus a context margin (so the network still sees the whole object and what is
around it, unlike the windows of an enlarged photo in :mod:`segmentation.tta`), and
:func:`zoom_probabilities` cuts that window out of the *photo* (not the inference copy),
resamples it to fill the network's input (at most :attr:`ZoomOptions.max_zoom` times the
inference copy's pixels per side) and runs the network once more.

:func:`fuse` then replaces the class probabilities only within
:attr:`ZoomOptions.band_px` of the plain pass's 0.5 line of the target (a linear ramp over
:attr:`ZoomOptions.ramp_px` more): the confident interior and exterior keep the plain pass's
value, so the zoomed view can move the edge but never remove the object or add a far-away
piece. The result lives on the inference copy's grid, so everything after the model (CRF,
edge band, soft alpha) is unchanged. Plain arrays in and out; nothing here loads a model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from segmentation import crf
from segmentation.backends.probabilities import normalised, resize_probabilities
from segmentation.options import ZoomOptions
from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

# A pixel belongs to the target when its two-label probability exceeds this.
THRESHOLD: Final = 0.5
# The view of a fully convolutional network (no fixed input) has its longer side this long:
# the inference side (segmentation.limits.DEFAULT_INFERENCE_SIDE, what it was tuned at).
FREE_VIEW_SIDE: Final = 512
# The window is cut from the photo with Pillow's bilinear filter (antialiased when shrinking)
# and a reducing gap, so that a 16 MP photo's window costs no more than a 512 px one.
VIEW_RESAMPLING: Final = Image.Resampling.BILINEAR
REDUCING_GAP: Final = 2.0
# A view larger than the network's fixed input is cut into windows overlapping by this many
# pixels (segmentation.tta's default; at most a quarter of a smaller input).
TILE_OVERLAP: Final = 128


@dataclass(frozen=True, slots=True)
class Window:
    """Where the zoomed view lies: ``(top, bottom, left, right)`` in the inference copy's
    pixels (bottom/right exclusive), and the view's size (height, width) in network pixels."""

    top: int
    bottom: int
    left: int
    right: int
    view_height: int
    view_width: int

    @property
    def zoom(self) -> float:
        """Network pixels per inference pixel along the longer side."""
        return max(
            self.view_height / (self.bottom - self.top), self.view_width / (self.right - self.left)
        )


def view_side(segmenter: object) -> int:
    """The longer side of the zoomed view: the network's fixed input (DeepLab's 513), else
    :data:`FREE_VIEW_SIDE`."""
    size = getattr(segmenter, "input_size", None)
    if size is None:
        return FREE_VIEW_SIDE
    return int(min(size))


def view_limits(segmenter: object, options: ZoomOptions) -> tuple[int, int]:
    """The longest the view's longer and shorter sides may be, in network pixels."""
    longer = options.max_view or view_side(segmenter)
    return longer, min(longer, options.max_view_across or longer)


def plain_scale(segmenter: object, small_shape: tuple[int, int]) -> float:
    """Network pixels per inference pixel in the plain pass: a fixed-input network enlarges
    an inference copy smaller than its input (a 384 px photo fills DeepLab's 513), others
    see it as it is."""
    size = getattr(segmenter, "input_size", None)
    if size is None:
        return 1.0
    return max(1.0, min(int(size[0]) / small_shape[0], int(size[1]) / small_shape[1]))


def zoom_window(
    target: npt.NDArray[np.bool_],
    limits: int | tuple[int, int],
    options: ZoomOptions,
    base: float = 1.0,
) -> Window | None:
    """The window of the inference copy to look at again, for the object ``target``
    (``H x W`` bool at the inference copy's resolution), or None when the zoom would gain
    less than ``options.min_zoom`` over the plain pass's ``base`` network pixels per
    inference pixel (an object filling the photo) or ``target`` is empty.

    The object's bounding box is grown by ``options.margin`` of its size on each side; a
    window smaller than ``side / options.max_zoom`` is grown about its centre to that, so
    the zoom never exceeds ``max_zoom`` and a small object keeps more context. Clipped to the
    image.
    """
    rows = np.flatnonzero(target.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(target.any(axis=0))
    height, width = target.shape
    side, across = (limits, limits) if isinstance(limits, int) else limits
    top, bottom = _grown(int(rows[0]), int(rows[-1]) + 1, side, height, options)
    left, right = _grown(int(cols[0]), int(cols[-1]) + 1, side, width, options)
    longer, shorter = sorted((bottom - top, right - left), reverse=True)
    zoom = min(side / longer, across / shorter, options.max_zoom)
    if zoom < options.min_zoom * base:
        return None
    view_h = max(1, round((bottom - top) * zoom))
    view_w = max(1, round((right - left) * zoom))
    return Window(top, bottom, left, right, view_h, view_w)


def _grown(start: int, stop: int, side: int, size: int, options: ZoomOptions) -> tuple[int, int]:
    """``[start, stop)`` grown by the margin, at least ``side / max_zoom`` long, clipped."""
    extent = stop - start
    grow = options.margin * extent
    low, high = start - grow, stop + grow
    least = side / options.max_zoom
    if high - low < least:
        centre = (start + stop) / 2
        low, high = centre - least / 2, centre + least / 2
    return max(0, math.floor(low)), min(size, math.ceil(high))


def cut_view(
    photo: npt.NDArray[np.uint8], small_shape: tuple[int, int], window: Window
) -> npt.NDArray[np.uint8]:
    """The window of the full-resolution ``photo`` resampled to the view's size
    (``small_shape`` is the inference copy's (height, width), in whose pixels ``window`` is)."""
    sy, sx = photo.shape[0] / small_shape[0], photo.shape[1] / small_shape[1]
    box = (window.left * sx, window.top * sy, window.right * sx, window.bottom * sy)
    view = Image.fromarray(photo).resize(
        (window.view_width, window.view_height), VIEW_RESAMPLING, box=box, reducing_gap=REDUCING_GAP
    )
    return np.asarray(view, dtype=np.uint8)


def edge_weight(
    target: npt.NDArray[np.bool_], window: Window, options: ZoomOptions
) -> npt.NDArray[np.float32]:
    """The zoomed view's share of each pixel of ``window`` (``h x w``): ``options.weight``
    within ``band_px`` of ``target``'s edge, ramping to 0 over ``ramp_px`` more, 0 beyond."""
    region = target[window.top : window.bottom, window.left : window.right]
    if region.all() or not region.any():
        return np.zeros(region.shape, np.float32)
    # Pixels on either side of the edge are at distance ~1; centres are 0.5 px from it.
    distance = (
        np.where(
            region, ndimage.distance_transform_edt(region), ndimage.distance_transform_edt(~region)
        )
        - 0.5
    )
    ramp = max(options.ramp_px, 1e-6)
    share = np.clip((options.band_px + ramp - distance) / ramp, 0.0, 1.0)
    weight: npt.NDArray[np.float32] = (share * options.weight).astype(np.float32)
    return weight


def fuse(
    probs: npt.NDArray[np.floating],
    zoomed: npt.NDArray[np.floating],
    target: npt.NDArray[np.bool_],
    window: Window,
    options: ZoomOptions,
) -> npt.NDArray[np.float32]:
    """``probs`` (``H x W x C``) with ``zoomed`` (the window's class probabilities at its
    size in inference pixels) blended in along ``target``'s edge (:func:`edge_weight`);
    every pixel outside the band keeps ``probs``' value exactly."""
    result = np.array(probs, dtype=np.float32, copy=True)
    share = edge_weight(target, window, options)
    changed = share > 0
    region = result[window.top : window.bottom, window.left : window.right]
    weight = share[changed][:, np.newaxis]
    blended = region[changed] * (1.0 - weight) + np.asarray(zoomed, np.float32)[changed] * weight
    region[changed] = normalised(blended)
    return result


def predict_view(segmenter: Segmenter, view: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The network's class probabilities for ``view``: whole when it fits the network's
    fixed input (or the network takes any size), else in overlapping input-sized windows
    (:func:`segmentation.tta.predict_tiled`)."""
    from segmentation.tta import native_input_size, predict_tiled

    size = native_input_size(segmenter)
    if size is None or (view.shape[0] <= size[0] and view.shape[1] <= size[1]):
        return np.asarray(segmenter.predict(view), dtype=np.float32)
    return predict_tiled(segmenter, view, size, min(TILE_OVERLAP, min(size) // 4))


def view_probabilities(
    segmenter: Segmenter,
    photo: npt.NDArray[np.uint8],
    small_shape: tuple[int, int],
    window: Window,
    options: ZoomOptions,
) -> npt.NDArray[np.float32]:
    """The network's class probabilities for ``window`` (of the inference copy, whose
    (height, width) is ``small_shape``) seen in the full-resolution ``photo``, at the
    window's size in inference pixels."""
    view = cut_view(photo, small_shape, window)
    zoomed = predict_view(segmenter, view)
    if options.flip:
        mirrored = predict_view(segmenter, np.ascontiguousarray(view[:, ::-1]))[:, ::-1]
        zoomed = (zoomed + mirrored) * np.float32(0.5)
    resized: npt.NDArray[np.float32] = resize_probabilities(
        zoomed, window.bottom - window.top, window.right - window.left
    )
    return resized


def fuse_object(
    probs: npt.NDArray[np.floating],
    zoomed: npt.NDArray[np.floating],
    index: int,
    window: Window,
    options: ZoomOptions,
    target: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float32]:
    """:func:`fuse` along the edge of class ``index`` (``target``: its mask in ``probs``, if
    known); ``probs`` unchanged when that leaves the object less than
    ``options.min_area_ratio`` of its pixels (a thin part lies wholly within the band, and a
    zoomed view that misses it would take it away)."""
    if target is None:
        target = crf.target_probability(probs, index) > THRESHOLD
    fused = fuse(probs, zoomed, target, window, options)
    if options.min_area_ratio > 0:
        # Only the window changed: count the object there before and after.
        inside = (slice(window.top, window.bottom), slice(window.left, window.right))
        after_window = crf.target_probability(fused[inside], index) > THRESHOLD
        before = int(np.count_nonzero(target))
        after = before - int(np.count_nonzero(target[inside])) + int(np.count_nonzero(after_window))
        if after < options.min_area_ratio * before:
            logger.debug("zoom pass kept %d of %d object pixels: not applied", after, before)
            return np.asarray(probs, dtype=np.float32)
    return fused


def zoom_probabilities(
    segmenter: Segmenter,
    photo: npt.NDArray[np.uint8],
    probs: npt.NDArray[np.floating],
    index: int,
    options: ZoomOptions,
) -> tuple[npt.NDArray[np.float32], Window | None]:
    """The plain pass's ``probs`` (at the inference copy's resolution) refined along the edge
    of class ``index`` by a second pass on the object's window of ``photo``; also the window
    (None: no second pass, ``probs`` returned as they are)."""
    plain = np.asarray(probs, dtype=np.float32)
    if not options.enabled:
        return plain, None
    target = crf.target_probability(plain, index) > THRESHOLD
    base = plain_scale(segmenter, (plain.shape[0], plain.shape[1]))
    window = zoom_window(target, view_limits(segmenter, options), options, base)
    if window is None:
        return plain, None
    zoomed = view_probabilities(segmenter, photo, (plain.shape[0], plain.shape[1]), window, options)
    logger.debug("zoom pass: window %s, %.2fx", window, window.zoom)
    return fuse_object(plain, zoomed, index, window, options, target), window
