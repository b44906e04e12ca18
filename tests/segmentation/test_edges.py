"""The sticker's edge: soft alpha, decontaminated colours, outline styles (stroke, seed,
none, shadow), and the margin that keeps them on the canvas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation import alpha, outline
from segmentation.compose import compose_sticker, sticker_margin
from segmentation.contour import contour_band
from segmentation.limits import STICKER_SIDE
from segmentation.options import OutlineStyle
from segmentation.outline import STYLES

NONE = STYLES["none"]
STROKE = STYLES["stroke"]
GREEN = (0, 255, 0)
GREY = (128, 128, 128)


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    return np.asarray((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)


def _grey_disc_on_green() -> tuple[np.ndarray, np.ndarray]:
    """A grey disc on a saturated green background, and a probability that is a bit too
    large (the network's edge is a pixel outside the object's, as it often is)."""
    photo = np.empty((120, 160, 3), np.uint8)
    photo[:] = GREEN
    photo[_disc((120, 160), 60, 80, 40)] = GREY
    prob = _disc((120, 160), 60, 80, 41).astype(np.float32)
    return photo, prob


def test_alpha_is_partial_only_along_the_edge() -> None:
    photo, prob = _grey_disc_on_green()
    sticker = compose_sticker(photo, prob, NONE)
    a = sticker[..., 3]
    partial = (a > 0) & (a < 255)
    assert partial.sum() > 100  # anti-aliased: there is a ramp ...
    edge = contour_band(a >= 128, 3) | (ndimage.binary_dilation(a >= 128) & (a < 128))
    assert not (partial & ~edge).any()  # ... and it is on the edge only
    assert (a[ndimage.binary_erosion(a >= 128, iterations=3)] == 255).all()


def test_hard_edge_is_binary() -> None:
    photo, prob = _grey_disc_on_green()
    assert set(np.unique(compose_sticker(photo, prob, NONE, soft=False)[..., 3])) == {0, 255}


def test_soft_alpha_thresholds_to_the_binary_cut() -> None:
    prob = _disc((50, 70), 25, 30, 17).astype(np.float32) * 0.8 + 0.1
    size = (140, 100)
    soft = alpha.soft_alpha(prob, size)
    hard = alpha.hard_alpha(prob, size)
    np.testing.assert_array_equal(soft > 0.5, hard > 0.5)
    assert ((soft > 0) & (soft < 1)).any()


def test_edge_pixels_next_to_a_saturated_background_do_not_carry_it() -> None:
    photo, prob = _grey_disc_on_green()
    hard = compose_sticker(photo, prob, NONE, soft=False)
    soft = compose_sticker(photo, prob, NONE)
    green_cast = lambda s: s[..., 1].astype(int) - s[..., 0].astype(int)  # noqa: E731
    # The seed's cut leaves a green rim; the soft edge carries the object's grey.
    assert green_cast(hard)[hard[..., 3] > 0].max() > 100
    visible = soft[..., 3] > 0
    assert np.abs(green_cast(soft)[visible]).max() <= 8


def test_opaque_interior_pixels_keep_their_photo_colour() -> None:
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # texture everywhere
    prob = _disc((120, 160), 60, 80, 40).astype(np.float32)
    hard = compose_sticker(photo, prob, NONE, soft=False)  # the photo, resampled, cut
    soft = compose_sticker(photo, prob, NONE)
    # Deeper than the rim cleaned at the photo scale (3 px with the
    # anti-aliased one, upscaled 6.4x) and Lanczos reach (3 px).
    interior = ndimage.binary_erosion(hard[..., 3] == 255, iterations=48)
    assert interior.sum() > 0.5 * (hard[..., 3] == 255).sum()
    np.testing.assert_array_equal(soft[interior], hard[interior])


def test_decontaminate_leaves_an_object_without_interior_alone() -> None:
    rgb = np.full((5, 5, 3), 7, np.uint8)
    a = np.full((5, 5), 0.5, np.float32)
    np.testing.assert_array_equal(alpha.decontaminate(rgb, a), rgb)


def test_stroke_is_outside_the_object_round_and_white() -> None:
    a = alpha.soft_alpha(_disc((60, 60), 30, 30, 15).astype(np.float32) * 1.0, (200, 200))
    a[20:60, 20:60] = 0.0  # a square notch: the stroke has to turn a corner there
    rgb = np.zeros((200, 200, 3), np.uint8)
    rgb[:] = GREY
    style = OutlineStyle(width=10)
    rgba = outline.apply_outline(rgb, a, style)
    obj = a >= 1.0
    assert (rgba[obj, 3] == 255).all()
    assert (rgba[obj, :3] == GREY).all()  # the object is untouched: the stroke is outside
    ring = (rgba[..., 3] > 0) & (a == 0)
    assert (rgba[ring, :3] == 255).all()  # white
    distance = ndimage.distance_transform_edt(a <= 0.5)
    assert distance[ring].max() <= style.width + 1.5  # about `width` wide ...
    assert (rgba[(distance > 0) & (distance <= style.width), 3] == 255).all()  # ... solid,
    # round: the Euclidean dilation (a square one would also fill the corner beyond).
    assert ((distance > style.width + 1) & (rgba[..., 3] > 0)).sum() == 0
    outer = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)
    assert outer.any()  # anti-aliased outer rim


@pytest.mark.parametrize("shadow", [False, True])
def test_outline_and_shadow_are_never_clipped(shadow: bool) -> None:
    photo, prob = _grey_disc_on_green()
    prob[40:80, :90] = 1.0  # a bar that the photo's left border cuts
    style = OutlineStyle(width=12, shadow=shadow)
    sticker = compose_sticker(photo, prob, style)
    a = sticker[..., 3]
    for border in (a[:2], a[-2:], a[:, :2], a[:, -2:]):
        assert not border.any()  # nothing reaches the canvas edge
    if shadow:
        assert (a[(sticker[..., :3].max(axis=-1) < 40)] > 0).any()  # a dark shadow is drawn


def test_shadow_needs_more_margin_than_the_stroke_alone() -> None:
    assert sticker_margin(OutlineStyle(shadow=True)) > sticker_margin(OutlineStyle())
    assert sticker_margin(OutlineStyle()) > OutlineStyle().width


def test_seed_style_paints_the_seeds_band_inside_the_edge() -> None:
    photo, prob = _grey_disc_on_green()
    seed = STYLES["seed"]
    sticker = compose_sticker(photo, prob, seed)
    opaque = sticker[..., 3] >= 128
    band = contour_band(opaque, seed.width)
    painted = (sticker[..., :3] == seed.color).all(axis=-1)
    assert band.any()
    assert painted[band].all()
    assert not (painted & ~opaque).any()  # inside the object only
    assert seed.width == 5
    assert seed.color == (248, 248, 248)


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outline style"):
        outline.apply_outline(
            np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32), OutlineStyle(kind="x")
        )


def test_default_sticker_side() -> None:
    photo, prob = _grey_disc_on_green()
    assert compose_sticker(photo, prob, STROKE).shape == (STICKER_SIDE, STICKER_SIDE, 4)
