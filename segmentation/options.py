"""Frozen option dataclasses of the pipeline: plain, picklable, hashable values.

The library never sees the bot's settings: callers build these from whatever
configuration they have (CLI flags, the bot's pydantic settings, per-chat choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segmentation.classes import AUTO
from segmentation.limits import DEFAULT_INFERENCE_SIDE, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS


@dataclass(frozen=True, slots=True)
class CrfParams:
    """Dense-CRF parameters; the defaults are the seed post's."""

    iterations: int = 5
    gaussian_sxy: float = 10.0
    gaussian_compat: float = 3.0
    bilateral_sxy: float = 50.0
    bilateral_srgb: float = 20.0
    bilateral_compat: float = 10.0
    # The CRF runs over the object's bounding box grown by this fraction of its size on each
    # side (at least ``min_margin_px``), not over the whole photo.
    margin: float = 0.25
    min_margin_px: int = 16


@dataclass(frozen=True, slots=True)
class ContourStyle:
    """The light band drawn along the object's edge (seed: 5x5 erosion, grey 248)."""

    # Side of the square structuring element of the erosion; the band is about width // 2
    # pixels wide, measured on the 512 px sticker.
    width: int = 5
    color: tuple[int, int, int] = (248, 248, 248)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Refusal limits applied before and while decoding."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS


@dataclass(frozen=True, slots=True)
class StickerOptions:
    """Everything that shapes one sticker."""

    target: str = AUTO
    crf: bool = True
    inference_side: int = DEFAULT_INFERENCE_SIDE
    crf_params: CrfParams = field(default_factory=CrfParams)
    contour: ContourStyle = field(default_factory=ContourStyle)
    limits: ImageLimits = field(default_factory=ImageLimits)
    # A class counts as detected when it covers at least this share of the photo.
    min_detected_share: float = 0.005
    # Besides the largest connected component, keep pieces of at least this share of it.
    min_component_ratio: float = 0.1
    # Fill holes in the mask smaller than this share of the object's area.
    max_hole_ratio: float = 0.01
    webp: bool = True
