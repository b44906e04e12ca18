"""segmentation.compose: sticker geometry, the contour band, and PNG/WEBP encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from segmentation.compose import compose_sticker, encode_png, encode_webp, sticker_margin
from segmentation.errors import StickerError
from segmentation.limits import MAX_STICKER_PNG_BYTES, STICKER_SIDE
from segmentation.options import OutlineStyle
from segmentation.outline import STYLES

# The geometry tests run the seed style with the seed's binary edge: exact 0/255 alpha.
STYLE = STYLES["seed"]
MARGIN = sticker_margin(STYLE)
FLAT = (10, 120, 200)  # a photo colour that is nowhere near the contour colour


def _opaque_box(sticker: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive, of the pixels with alpha > 0."""
    opaque = sticker[..., 3] > 0
    rows, cols = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _rect_mask(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def _hard(
    photo: np.ndarray, mask: np.ndarray, style: OutlineStyle, side: int = STICKER_SIDE
) -> np.ndarray:
    return compose_sticker(photo, mask, style, side, soft=False)


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- geometry -------------------------------------------------------------------------------


def test_margin_is_at_least_the_outline_width() -> None:
    for width in (0, 1, 5, 12):
        assert sticker_margin(OutlineStyle(width=width)) >= width
        assert sticker_margin(OutlineStyle(kind="seed", width=width)) >= width


def test_a_2_to_1_object_fills_the_width_and_half_the_height(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(100, 150), slice(100, 200))  # 100 x 50
    sticker = _hard(chelsea, mask, STYLE)

    assert sticker.shape == (STICKER_SIDE, STICKER_SIDE, 4)
    assert sticker.dtype == np.uint8
    top, bottom, left, right = _opaque_box(sticker)
    # The longer side of box + margins is exactly the sticker side ...
    assert (left, right) == (MARGIN, STICKER_SIDE - MARGIN)
    # ... the aspect ratio is kept, and the object is centred.
    inner = STICKER_SIDE - 2 * MARGIN
    assert abs((bottom - top) - inner / 2) <= 1
    assert abs(top - (STICKER_SIDE - bottom)) <= 1
    # A rectangle stays a solid rectangle (interpolating the upscaled mask rounds its corners
    # off by a few pixels): alpha is 255 inside, 0 outside, and nothing else.
    alpha = sticker[..., 3]
    assert set(np.unique(alpha)) == {0, 255}
    solid = alpha[top:bottom, left:right] == 255
    for rows in (slice(0, 3), slice(-3, None)):
        for cols in (slice(0, 3), slice(-3, None)):
            solid[rows, cols] = True
    assert solid.all()
    assert not alpha[:top].any()
    assert not alpha[bottom:].any()


def test_a_tall_object_fills_the_height(astronaut: np.ndarray) -> None:
    mask = _rect_mask(astronaut.shape[:2], slice(10, 310), slice(200, 300))  # 100 x 300
    top, bottom, left, right = _opaque_box(_hard(astronaut, mask, STYLE))
    assert (top, bottom) == (MARGIN, STICKER_SIDE - MARGIN)
    assert abs((right - left) - (STICKER_SIDE - 2 * MARGIN) / 3) <= 1


def test_alpha_follows_the_scaled_mask(chelsea: np.ndarray) -> None:
    """An ellipse maps to the ellipse predicted by "box + margins -> 512, centred"."""
    height, width = chelsea.shape[:2]
    yy, xx = np.mgrid[:height, :width] + 0.5  # pixel centres
    cy, cx, ry, rx = 150.0, 200.0, 60.0, 120.0
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))

    sticker = _hard(chelsea, mask, STYLE)

    scale = (STICKER_SIDE - 2 * MARGIN) / (cols[-1] + 1 - cols[0])  # the wider side
    out_h = round((rows[-1] + 1 - rows[0]) * scale + 2 * MARGIN)
    y0 = (STICKER_SIDE - out_h) // 2
    v, u = np.mgrid[:STICKER_SIDE, :STICKER_SIDE] + 0.5
    photo_y = rows[0] + (v - y0 - MARGIN) / scale
    photo_x = cols[0] + (u - MARGIN) / scale
    expected = ((photo_y - cy) / ry) ** 2 + ((photo_x - cx) / rx) ** 2 < 1
    actual = sticker[..., 3] > 0

    assert set(np.unique(sticker[..., 3])) == {0, 255}
    # Disagreements only on the edge of the expected shape (resampling), never in the body.
    edge = ndimage.binary_dilation(expected, iterations=2) & ~ndimage.binary_erosion(
        expected, iterations=2
    )
    assert not (actual ^ expected)[~edge].any()
    assert (actual ^ expected).sum() < 0.02 * expected.sum()


def test_transparent_pixels_are_all_zero(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(30, 200), slice(150, 300))
    sticker = _hard(chelsea, mask, STYLE)
    transparent = sticker[..., 3] == 0
    assert transparent.any()
    assert not sticker[transparent].any()


def test_band_is_painted_on_the_edge_and_the_inside_keeps_the_photo() -> None:
    photo = np.empty((200, 300, 3), dtype=np.uint8)
    photo[:] = FLAT
    yy, xx = np.mgrid[:200, :300]
    mask = (yy - 100) ** 2 + (xx - 150) ** 2 < 70**2
    style = OutlineStyle(kind="seed", width=9, color=(250, 240, 230))

    sticker = _hard(photo, mask, style)

    opaque = sticker[..., 3] == 255
    painted = (sticker[..., :3] == style.color).all(axis=-1)
    assert painted.any()
    assert (painted <= opaque).all()  # every band pixel is inside the object ...
    depth = ndimage.distance_transform_cdt(np.pad(opaque, 1), metric="chessboard")[1:-1, 1:-1]
    assert depth[painted].max() <= style.width // 2  # ... and on its edge
    assert painted[depth == 1].all()  # the whole edge is painted
    interior = opaque & ~painted
    assert interior.sum() > 0.8 * opaque.sum()
    assert (np.abs(sticker[interior, :3].astype(int) - FLAT) <= 1).all()  # photo colour


def test_object_touching_the_photo_border_stays_inside_the_canvas(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(0, 200), slice(0, 120))  # top-left corner
    style = OutlineStyle(kind="seed", width=7, color=(255, 0, 255))
    margin = sticker_margin(style)

    sticker = _hard(chelsea, mask, style)

    alpha = sticker[..., 3]
    for edge in (alpha[:margin], alpha[-margin:], alpha[:, :margin], alpha[:, -margin:]):
        assert not edge.any()
    top, bottom, left, right = _opaque_box(sticker)
    # The band runs along the sides that were cut by the photo's border too.
    band = (sticker[..., :3] == style.color).all(axis=-1)
    assert band[top : top + style.width // 2, left + 1 : right - 1].all()  # corners round
    assert band[top + 1 : bottom - 1, left : left + style.width // 2].all()


def test_no_dark_fringe_where_the_object_meets_the_photo_border() -> None:
    photo = np.empty((60, 80, 3), dtype=np.uint8)
    photo[:] = FLAT
    mask = _rect_mask((60, 80), slice(10, 50), slice(0, 40))  # cut by the left border

    sticker = _hard(photo, mask, STYLE)  # upscaled about 12x

    opaque = sticker[..., 3] == 255
    inside = opaque & ~(sticker[..., :3] == STYLE.color).all(axis=-1)
    assert (np.abs(sticker[inside, :3].astype(int) - FLAT) <= 1).all()


def test_a_tiny_object_is_scaled_up(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(100, 104), slice(50, 58))  # 8 x 4
    top, bottom, left, right = _opaque_box(_hard(chelsea, mask, STYLE))
    assert (left, right) == (MARGIN, STICKER_SIDE - MARGIN)
    assert abs((bottom - top) - (STICKER_SIDE - 2 * MARGIN) / 2) <= 1


def test_custom_side(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(100, 150), slice(100, 200))
    sticker = _hard(chelsea, mask, STYLE, side=100)
    assert sticker.shape == (100, 100, 4)
    assert _opaque_box(sticker)[2:] == (MARGIN, 100 - MARGIN)


def test_empty_or_mismatched_masks_are_refused(chelsea: np.ndarray) -> None:
    with pytest.raises(ValueError, match="empty"):
        _hard(chelsea, np.zeros(chelsea.shape[:2], dtype=bool), STYLE)
    with pytest.raises(ValueError, match="shape"):
        _hard(chelsea, np.ones((10, 10, 3), dtype=bool), STYLE)


# --- encoding -------------------------------------------------------------------------------


@pytest.fixture
def noise_sticker() -> np.ndarray:
    """512 x 512 random noise with a disc of transparency: incompressible as lossless PNG."""
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (STICKER_SIDE, STICKER_SIDE, 4), dtype=np.uint8)
    yy, xx = np.mgrid[:STICKER_SIDE, :STICKER_SIDE]
    hole = (yy - 256) ** 2 + (xx - 256) ** 2 < 60**2
    rgba[..., 3] = np.where(hole, 0, 255)
    rgba[hole, :3] = 0
    return rgba


def test_png_of_a_normal_sticker_is_lossless(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(30, 250), slice(100, 400))
    sticker = compose_sticker(chelsea, mask, STYLE)
    data = encode_png(sticker)
    assert data.startswith(b"\x89PNG")
    assert len(data) <= MAX_STICKER_PNG_BYTES
    np.testing.assert_array_equal(np.asarray(_decode(data).convert("RGBA")), sticker)


def test_png_of_noise_is_reduced_under_the_limit(noise_sticker: np.ndarray) -> None:
    plain = io.BytesIO()
    Image.fromarray(noise_sticker).save(plain, format="PNG", optimize=True)
    assert len(plain.getvalue()) > MAX_STICKER_PNG_BYTES  # the test needs a too-big sticker

    data = encode_png(noise_sticker)

    assert len(data) <= MAX_STICKER_PNG_BYTES
    decoded = np.asarray(_decode(data).convert("RGBA"))
    assert decoded.shape == (STICKER_SIDE, STICKER_SIDE, 4)
    np.testing.assert_array_equal(decoded[..., 3], noise_sticker[..., 3])  # alpha exact
    error = np.abs(decoded[..., :3].astype(int) - noise_sticker[..., :3]).mean()
    assert error < 40  # a palette of the photo's colours, not a flat fill


def test_png_that_cannot_fit_is_an_error(noise_sticker: np.ndarray) -> None:
    with pytest.raises(StickerError, match="within 1000 bytes"):
        encode_png(noise_sticker, max_bytes=1000)


def test_webp_decodes_to_the_sticker(chelsea: np.ndarray) -> None:
    mask = _rect_mask(chelsea.shape[:2], slice(30, 250), slice(100, 400))
    sticker = compose_sticker(chelsea, mask, STYLE)

    data = encode_webp(sticker)

    assert len(data) <= MAX_STICKER_PNG_BYTES
    image = _decode(data)
    assert image.format == "WEBP"
    assert image.size == (STICKER_SIDE, STICKER_SIDE)
    decoded = np.asarray(image.convert("RGBA"))
    np.testing.assert_array_equal(decoded[..., 3], sticker[..., 3])  # alpha is lossless
    opaque = sticker[..., 3] == 255
    assert np.abs(decoded[opaque, :3].astype(int) - sticker[opaque, :3]).mean() < 4


def test_webp_of_noise_fits_and_an_impossible_limit_is_an_error(
    noise_sticker: np.ndarray,
) -> None:
    data = encode_webp(noise_sticker)
    assert len(data) <= MAX_STICKER_PNG_BYTES
    assert _decode(data).size == (STICKER_SIDE, STICKER_SIDE)
    with pytest.raises(StickerError, match="within 1000 bytes"):
        encode_webp(noise_sticker, max_bytes=1000)
