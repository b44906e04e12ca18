"""The object zoom pass (segmentation.zoom): the window holds the object with context, a small
object gets more network pixels, the zoomed answer counts only along the edge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation import crf, zoom
from segmentation.backends.probabilities import normalised
from segmentation.classes import NUM_CLASSES, class_index
from segmentation.image import resize_longer_side
from segmentation.options import StickerOptions, ZoomOptions
from segmentation.pipeline import make_sticker, predict
from tests.conftest import encode
from tests.standins import ColourSegmenter

ON = ZoomOptions(enabled=True)
CAT = class_index("cat")


class FixedInputColourSegmenter(ColourSegmenter):
    """The colour stand-in with a fixed input like DeepLab's; records every view it gets."""

    def __init__(self, side: int = 513) -> None:
        super().__init__()
        self.input_size = (side, side)
        self.views: list[np.ndarray] = []

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.views.append(rgb.copy())
        return super().predict(rgb)


def box_mask(shape: tuple[int, int], top: int, bottom: int, left: int, right: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


def test_window_holds_the_object_and_its_context() -> None:
    target = box_mask((384, 512), 100, 180, 200, 300)
    window = zoom.zoom_window(target, 513, ON)
    assert window is not None
    # A quarter of the object's size on each side (80 x 100 px object).
    assert window.top <= 100 - 20
    assert window.bottom >= 180 + 20
    assert window.left <= 200 - 25
    assert window.right >= 300 + 25
    assert window.view_height <= 513
    assert window.view_width <= 513


def test_a_small_object_gets_max_zoom_times_the_pixels() -> None:
    target = box_mask((384, 512), 200, 230, 100, 130)
    window = zoom.zoom_window(target, 513, ON)
    assert window is not None
    assert window.zoom == pytest.approx(ON.max_zoom, rel=0.02)
    # The window grew around the object to the size the network sees at max_zoom.
    assert window.bottom - window.top == pytest.approx(513 / ON.max_zoom, abs=2)
    assert window.top < 200
    assert window.bottom > 230


def test_an_object_filling_the_photo_is_not_zoomed() -> None:
    target = box_mask((384, 512), 10, 380, 5, 505)
    assert zoom.zoom_window(target, 513, ON) is None
    assert zoom.zoom_window(np.zeros((64, 64), bool), 513, ON) is None


def _probs_with(target: np.ndarray, cat: float) -> np.ndarray:
    probs = np.full((*target.shape, NUM_CLASSES), 0.01, np.float32)
    probs[..., CAT] = np.where(target, cat, 0.01)
    probs[..., 0] = np.where(target, 0.01, cat)
    return normalised(probs)


def test_only_the_band_along_the_edge_changes() -> None:
    target = box_mask((200, 200), 50, 150, 50, 150)
    plain = _probs_with(target, 0.9)
    window = zoom.zoom_window(target, 513, ON)
    assert window is not None
    h, w = window.bottom - window.top, window.right - window.left
    zoomed = np.full((h, w, NUM_CLASSES), 1.0 / NUM_CLASSES, np.float32)
    fused = zoom.fuse(plain, zoomed, target, window, ON)
    distance = np.where(target, edge_distance(target), edge_distance(~target))
    far = distance > ON.band_px + ON.ramp_px + 1
    near = distance <= ON.band_px
    assert np.array_equal(fused[far], plain[far])
    np.testing.assert_allclose(fused[near], 1.0 / NUM_CLASSES, rtol=1e-5)


def edge_distance(mask: np.ndarray) -> np.ndarray:
    """Each pixel of ``mask``'s distance to the nearest pixel outside it."""
    return np.asarray(ndimage.distance_transform_edt(mask))


def test_the_zoom_never_removes_the_object() -> None:
    target = box_mask((200, 200), 40, 160, 40, 160)
    plain = _probs_with(target, 0.95)
    window = zoom.zoom_window(target, 513, ON)
    assert window is not None
    h, w = window.bottom - window.top, window.right - window.left
    background = np.zeros((h, w, NUM_CLASSES), np.float32)
    background[..., 0] = 1.0  # the zoomed view sees no cat at all
    fused = zoom.fuse(plain, background, target, window, ON)
    kept = crf.target_probability(fused, CAT) > 0.5
    deep = edge_distance(target) > ON.band_px + ON.ramp_px + 1
    assert deep.any()
    assert np.all(kept[deep])


def test_the_view_is_cut_from_the_full_resolution_photo() -> None:
    # A 1200 x 900 photo with a red square whose edge has 2 px stripes: visible in the
    # photo, averaged away in the 512 px inference copy.
    photo = np.full((900, 1200, 3), 120, np.uint8)
    photo[300:600, 400:700] = (220, 40, 40)
    photo[300:600, 400:700:4] = (120, 120, 120)
    small = resize_longer_side(photo, 512)
    segmenter = FixedInputColourSegmenter()
    probs = segmenter.predict(small)
    fused, window = zoom.zoom_probabilities(segmenter, photo, probs, CAT, ON)
    assert window is not None
    assert window.zoom > 1.2
    view = segmenter.views[-1]
    assert view.shape[:2] == (window.view_height, window.view_width)
    np.testing.assert_array_equal(view, zoom.cut_view(photo, small.shape[:2], window))
    # The view has more pixels of the object than the inference copy: the stripes survive.
    column = view[view.shape[0] // 2]
    assert np.count_nonzero(np.abs(np.diff(column[:, 0].astype(int))) > 40) > 20
    assert fused.shape == probs.shape


def test_off_the_probabilities_are_the_plain_pass() -> None:
    segmenter = FixedInputColourSegmenter()
    photo = np.full((300, 400, 3), 120, np.uint8)
    photo[100:160, 100:180] = (220, 40, 40)
    probs = segmenter.predict(photo)
    fused, window = zoom.zoom_probabilities(segmenter, photo, probs, CAT, ZoomOptions())
    assert window is None
    assert len(segmenter.views) == 1
    np.testing.assert_array_equal(fused, probs)


def test_flip_and_tiles_run_more_views() -> None:
    photo = np.full((400, 400, 3), 120, np.uint8)
    photo[150:250, 150:250] = (220, 40, 40)
    segmenter = FixedInputColourSegmenter(side=128)
    probs = segmenter.predict(photo)
    options = ZoomOptions(enabled=True, flip=True, max_view=300)
    _, window = zoom.zoom_probabilities(segmenter, photo, probs, CAT, options)
    assert window is not None
    assert max(window.view_height, window.view_width) > 128
    # Plain pass, then (tiles of the view) twice, mirrored the second time.
    tiles = (len(segmenter.views) - 1) // 2
    assert tiles >= 4
    assert len(segmenter.views) == 1 + 2 * tiles
    assert all(v.shape[:2] == (128, 128) for v in segmenter.views[1:])


def test_the_pipeline_runs_the_zoom_pass_when_asked(two_animals: np.ndarray) -> None:
    data = encode(two_animals)
    for enabled, passes in ((False, 1), (True, 2)):
        segmenter = FixedInputColourSegmenter()
        options = StickerOptions(target="dog", zoom=ZoomOptions(enabled=enabled))
        prediction = predict(data, segmenter, options)
        assert len(segmenter.views) == passes
        sticker = make_sticker(data, FixedInputColourSegmenter(), options)
        assert sticker.target == "dog"
        assert sticker.coverage > 0
        assert prediction.probs.shape[:2] == prediction.small.shape[:2]


def test_zoom_presets_parse_and_name_themselves() -> None:
    from segmentation.options import ZOOM_PRESETS, describe_zoom, parse_zoom

    for name, options in ZOOM_PRESETS.items():
        assert parse_zoom(f" {name.upper()} ") == options
        assert describe_zoom(options) == name
    with pytest.raises(ValueError, match="'huge'"):
        parse_zoom("huge")


def test_the_area_guard_keeps_a_thin_part_the_zoomed_view_misses() -> None:
    # A 4 px wide leg: every pixel of it lies within the band of its own edge.
    target = box_mask((200, 200), 40, 160, 98, 102)
    plain = _probs_with(target, 0.95)
    window = zoom.zoom_window(target, 513, ON)
    assert window is not None
    h, w = window.bottom - window.top, window.right - window.left
    background = np.zeros((h, w, NUM_CLASSES), np.float32)
    background[..., 0] = 1.0
    unguarded = zoom.fuse_object(plain, background, CAT, window, ON)
    assert not np.any(crf.target_probability(unguarded, CAT) > 0.5)
    guarded = ZoomOptions(enabled=True, min_area_ratio=0.8)
    kept = zoom.fuse_object(plain, background, CAT, window, guarded)
    np.testing.assert_array_equal(kept, plain)


def test_no_second_pass_when_the_plain_pass_saw_as_many_pixels() -> None:
    # A 300 px photo: the fixed 513 px input already enlarges it 1.7x in the plain pass, so a
    # window of the whole object at 1.7x gains nothing.
    photo = np.full((300, 300, 3), 120, np.uint8)
    photo[20:280, 30:270] = (220, 40, 40)
    segmenter = FixedInputColourSegmenter()
    probs = segmenter.predict(photo)
    assert zoom.plain_scale(segmenter, (300, 300)) == pytest.approx(513 / 300)
    fused, window = zoom.zoom_probabilities(segmenter, photo, probs, CAT, ON)
    assert window is None
    assert len(segmenter.views) == 1
    np.testing.assert_array_equal(fused, probs)
