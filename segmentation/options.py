"""Frozen option dataclasses of the pipeline: plain, picklable, hashable values.

The library never sees the bot's settings: callers build these from whatever
configuration they have (CLI flags, the bot's pydantic settings, per-chat choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from segmentation.classes import AUTO
from segmentation.limits import DEFAULT_INFERENCE_SIDE, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS


@dataclass(frozen=True, slots=True)
class EdgeBandParams:
    """The edge-only CRF after the region CRF (:mod:`segmentation.edgeband`).

    It re-decides the pixels within ``width_px`` of the probability's 0.5 line at the
    inference resolution (DeepLab's edges sit on a 16 px grid there), with ``halo_px`` more
    pixels on either side pinned to their side; kernels: a Gaussian of ``gaussian_sxy`` px
    (off at compat 0) and a bilateral of ``bilateral_sxy`` px and colour ``bilateral_srgb``.
    The defaults are the 2-fold search's best on all dev photos among kernels no finer than
    sxy 15 / srgb 12 (``python -m bench.quality --band --tune-band``; finer ones cost twice
    the time for no gain).
    """

    width_px: int = 4
    halo_px: int = 3
    gaussian_sxy: float = 3.0
    # 0: no Gaussian (smoothness) kernel; the bilateral alone did as well, for less time.
    gaussian_compat: float = 0.0
    bilateral_sxy: float = 20.0
    bilateral_srgb: float = 20.0
    bilateral_compat: float = 20.0
    iterations: int = 3
    # Not applied when it leaves less than this share of the object (a safety rail).
    min_area_ratio: float = 0.8
    # Not run when the band and halo hold more pixels than this (a time rail: a fragmented
    # mask's band could cover the whole image; the dev photos' largest is ~38k, median 18k).
    max_pixels: int = 100_000
    # With the band pass, the region CRF before it runs on the region shrunk to at most this
    # many pixels (instead of crf.MAX_CRF_PIXELS): the band restores the edge at full
    # resolution, and the time saved pays for it.
    region_pixels: int = 25_000


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
    # Confidence gate: where the network's two-label probability is at least ``gate`` or at
    # most ``1 - gate`` its answer stands; only the uncertain band between may change.
    # 1.0 (the seed's way): every pixel may change.
    gate: float = 1.0
    # Area guard: when the refined object keeps fewer than this share of the network's
    # object pixels, the network's mask is kept (0: no guard, the seed's way).
    min_area_ratio: float = 0.0
    # Kernel widths relative to the object: when > 0, both ``sxy`` are multiplied by
    # sqrt(object pixels) / ``size_reference`` (clipped to crf.SIZE_SCALE_RANGE), so a
    # small object is not smoothed away and a large one is smoothed alike. 0: widths in px.
    size_reference: float = 0.0
    # The unaries are the network's probabilities raised to 1 / ``unary_temperature`` and
    # renormalised: above 1 a confident network's answer weighs less against the pairwise
    # terms (1: the probabilities as they are, the seed's way).
    unary_temperature: float = 1.0
    # An edge-only CRF at full resolution after the region CRF (None: none, the seed's way).
    edge_band: EdgeBandParams | None = None


# Named CRF parameters (segmentation.crf.preset resolves "tuned" to one of them by backend).
# "seed": the seed post's, tuned for coarse FCN-32s output. "deeplab": tuned on the dev set
# for DeepLabV3 TFLite's sharp probabilities (``python -m bench.quality --tune``, held-out
# figures in the README): softened unaries, 2 iterations, a confidence gate and an area guard,
# then the edge-only CRF at full resolution (``python -m bench.quality --band``).
# "fcn8s": the seed's parameters, unmeasured: no real FCN-8s VOC weights exist here to tune
# on (bench.fitted's stand-in imitates DeepLab from random features; tuning on it would tune
# to an artefact).
CRF_PRESETS: Final[dict[str, CrfParams]] = {
    "seed": CrfParams(),
    "deeplab": CrfParams(
        gaussian_compat=1.0,
        bilateral_compat=8.0,
        bilateral_sxy=50.0,
        unary_temperature=2.0,
        iterations=2,
        gate=0.8,
        min_area_ratio=0.8,
        edge_band=EdgeBandParams(),
    ),
    "fcn8s": CrfParams(),
}


@dataclass(frozen=True, slots=True)
class OutlineStyle:
    """How the sticker's edge is drawn (:mod:`segmentation.outline`; named styles in
    ``outline.STYLES``).

    ``kind``: ``"stroke"`` (a band outside the object, round at corners), ``"seed"`` (the
    seed post's band inside the edge: ``width x width`` erosion, grey 248) or ``"none"``.
    Widths are in pixels of the 512 px sticker (2 % of its side for the stroke).
    """

    kind: str = "stroke"
    width: int = 10
    color: tuple[int, int, int] = (255, 255, 255)
    # A soft drop shadow under the object and its stroke.
    shadow: bool = False


# Named outline styles (the CLI's --style, the bot's /style). The CLI's --shadow adds a
# shadow to any of them; "shadow" is the stroke with its shadow, for the bot's buttons.
OUTLINE_STYLES: Final[dict[str, OutlineStyle]] = {
    "stroke": OutlineStyle(),
    "shadow": OutlineStyle(shadow=True),
    "seed": OutlineStyle(kind="seed", width=5, color=(248, 248, 248)),
    "none": OutlineStyle(kind="none"),
}
DEFAULT_OUTLINE_STYLE: Final = "stroke"


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Refusal limits applied before and while decoding."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS


@dataclass(frozen=True, slots=True)
class ZoomOptions:
    """The object zoom pass (:mod:`segmentation.zoom`): after the plain pass picks the
    target, the network runs once more on the object's bounding box grown by ``margin`` of
    its size per side, cut from the full-resolution photo and resampled to the network's
    input (at most ``max_zoom`` times the inference copy's pixels per side; skipped when it
    would gain less than ``min_zoom``). Its class probabilities replace the plain pass's
    (share ``weight``) within ``band_px`` inference pixels of the target's edge, ramping to
    nothing over ``ramp_px`` more; elsewhere the plain pass's stand.
    """

    enabled: bool = False
    margin: float = 0.25
    max_zoom: float = 3.0
    min_zoom: float = 1.2
    band_px: float = 8.0
    ramp_px: float = 4.0
    weight: float = 1.0
    # Also run the view mirrored left-right and average (one more pass: the network's 16 px
    # grid falls elsewhere on the object).
    flip: bool = False
    # The view's longer side may reach this many network pixels, cut into overlapping
    # windows of the network's fixed input (0: one window, the network's input side); its
    # shorter side at most ``max_view_across`` (0: as the longer).
    max_view: int = 0
    max_view_across: int = 0
    # Not applied when it leaves the object less than this share of its pixels (0: always).
    min_area_ratio: float = 0.0


# Named zoom settings (the CLI's --zoom, the bot's MODEL_ZOOM; README "Sticker quality" has
# the measurements behind them, ``python -m bench.quality_zoom``). "view": one more pass, on
# the object's window at up to 3x; "tiles": the window at up to 3x in at most two of the
# network's input windows along its longer side (at most two more passes), so that an object
# filling the photo is seen larger too. Band and share: the 2-fold choice of both folds
# ("view") and the best on all dev photos ("tiles"); the area guard fixed at 0.8.
ZOOM_PRESETS: Final[dict[str, ZoomOptions]] = {
    "off": ZoomOptions(),
    "view": ZoomOptions(
        enabled=True, margin=0.25, max_zoom=3.0, band_px=16.0, weight=1.0, min_area_ratio=0.8
    ),
    "tiles": ZoomOptions(
        enabled=True,
        margin=0.15,
        max_zoom=3.0,
        max_view=898,
        max_view_across=513,
        band_px=16.0,
        weight=1.0,
        min_area_ratio=0.8,
    ),
}
DEFAULT_ZOOM: Final = "off"


def parse_zoom(name: str) -> ZoomOptions:
    """The zoom preset called ``name`` (:data:`ZOOM_PRESETS`). Raises ``ValueError``."""
    try:
        return ZOOM_PRESETS[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown zoom {name!r}; expected one of {', '.join(ZOOM_PRESETS)}"
        ) from None


def describe_zoom(options: ZoomOptions) -> str:
    """The preset name of ``options`` (``"custom"`` when it is none of them)."""
    return next((k for k, v in ZOOM_PRESETS.items() if v == options), "custom")


@dataclass(frozen=True, slots=True)
class StickerOptions:
    """Everything that shapes one sticker."""

    target: str = AUTO
    crf: bool = True
    # The CRF's parameters by name (segmentation.crf.PRESETS): "tuned" picks the preset
    # tuned for the segmenter's backend, "seed" is the seed post's. ``crf_params``, when
    # set, overrides the preset.
    crf_preset: str = "tuned"
    inference_side: int = DEFAULT_INFERENCE_SIDE
    crf_params: CrfParams | None = None
    outline: OutlineStyle = field(default_factory=OutlineStyle)
    # Anti-aliased alpha and decontaminated edge colours; False: the seed's binary cut.
    soft_edge: bool = True
    limits: ImageLimits = field(default_factory=ImageLimits)
    # A class counts as detected when it covers at least this share of the photo.
    min_detected_share: float = 0.005
    # Besides the largest connected component, keep pieces of at least this share of it.
    min_component_ratio: float = 0.1
    # Fill holes in the mask smaller than this share of the object's area.
    max_hole_ratio: float = 0.01
    webp: bool = True
    # The object zoom pass after the plain one (segmentation.zoom; needs the model, so it
    # runs in pipeline.predict).
    zoom: ZoomOptions = field(default_factory=ZoomOptions)


# How TtaOptions.average combines the views: the mean of the probabilities, or of their logs
# (a geometric mean, renormalised).
TTA_AVERAGES: Final = ("prob", "log")
# The test-time augmentation the CLI's make and the bot use unless told otherwise (a
# parse_tta spec; README "Sticker quality" has the measurements behind it).
DEFAULT_TTA: Final = "off"
# The largest scale parse_tta accepts: at 4x a 512 px photo is 2048 px, 25 windows of 513.
MAX_TTA_SCALE: Final = 4.0


@dataclass(frozen=True, slots=True)
class TtaOptions:
    """Test-time augmentation of the network (:mod:`segmentation.tta`): the photo is also run
    at these ``scales`` of the inference resolution (1 is the network's plain view), each
    also mirrored left-right when ``flip``, and the class probabilities are averaged.

    A fixed-input network (DeepLab's 513 x 513) sees a photo enlarged beyond its input as
    windows overlapping by ``tile_overlap`` pixels. The default is no augmentation.
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    tile_overlap: int = 128
    average: str = "prob"

    @property
    def enabled(self) -> bool:
        """Whether this runs the network more than once (anything but the plain view)."""
        return self.flip or self.scales != (1.0,)


def parse_tta(spec: str) -> TtaOptions:
    """``"off"``, or scales and ``flip`` separated by commas (``"flip"``, ``"1,1.5"``,
    ``"1,1.5,2,flip"``; no scale given: the plain view only), optionally ``log`` (average the
    log-probabilities, :data:`TTA_AVERAGES`). Raises ``ValueError``. The CLI's ``--tta`` and
    the bot's ``MODEL_TTA`` read this."""
    text = spec.strip().lower()
    if text in ("off", "none", ""):
        return TtaOptions()
    scales: list[float] = []
    flip = False
    average = TTA_AVERAGES[0]
    for token in (t.strip() for t in text.split(",")):
        if token == "flip":
            flip = True
            continue
        if token in TTA_AVERAGES:
            average = token
            continue
        try:
            scale = float(token)
        except ValueError:
            raise ValueError(
                f"bad TTA item {token!r} in {spec!r}: expected 'off' or scales and 'flip' "
                "separated by commas, e.g. '1,1.5,flip'"
            ) from None
        if not 0 < scale <= MAX_TTA_SCALE:
            raise ValueError(f"TTA scale must be in (0, {MAX_TTA_SCALE}], got {token} in {spec!r}")
        scales.append(scale)
    return TtaOptions(scales=tuple(dict.fromkeys(scales)) or (1.0,), flip=flip, average=average)


def describe_tta(options: TtaOptions) -> str:
    """The inverse of :func:`parse_tta` (``"off"`` for no augmentation)."""
    if not options.enabled:
        return "off"
    flip = ["flip"] if options.flip else []
    average = [options.average] if options.average != TTA_AVERAGES[0] else []
    return ",".join([*(f"{s:g}" for s in options.scales), *flip, *average])
