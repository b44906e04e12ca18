"""segmentation.image: safe decoding of every odd format, limits, and clear errors."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from segmentation.errors import ImageTooLarge, InvalidImage
from segmentation.image import load_image, resize_longer_side
from segmentation.options import ImageLimits
from tests.conftest import encode

RED = (255, 0, 0)
WHITE = (255, 255, 255)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit PNG built row by row (never holds the image in memory)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to decode pixel data fail the test."""

    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"pixel data of a {self.size} image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- ordinary photos -------------------------------------------------------------------------


def test_jpeg_photo_decodes_to_rgb_uint8(astronaut: np.ndarray) -> None:
    rgb = load_image(encode(astronaut, "JPEG", quality=95))
    assert rgb.shape == astronaut.shape
    assert rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - astronaut.astype(int)).mean() < 3


def test_png_photo_is_lossless(chelsea: np.ndarray) -> None:
    np.testing.assert_array_equal(load_image(encode(chelsea, "PNG")), chelsea)


def test_real_fixture_files_decode(shared_fixtures: Path) -> None:
    cat = load_image((shared_fixtures / "seed_cat" / "cat.jpg").read_bytes())
    dog = load_image((shared_fixtures / "pet_dog" / "image.bmp").read_bytes())
    assert cat.shape == (352, 480, 3)
    assert dog.shape == (128, 128, 3)


def test_multi_picture_jpeg_gives_its_first_picture() -> None:
    first, second = Image.new("RGB", (20, 10), RED), Image.new("RGB", (20, 10), (0, 0, 255))
    data = _save(first, "MPO", save_all=True, append_images=[second], quality=95)
    rgb = load_image(data)
    assert rgb.shape == (10, 20, 3)
    np.testing.assert_allclose(rgb.reshape(-1, 3).mean(axis=0), RED, atol=3)


# --- EXIF orientation -----------------------------------------------------------------------


TOP_LEFT = (slice(0, 10), slice(0, 10))
TOP_RIGHT = (slice(0, 10), slice(-10, None))
BOTTOM_LEFT = (slice(-10, None), slice(0, 10))


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [
        # 6: the camera was turned clockwise; displaying rotates 90° clockwise, so the stored
        # top-left corner ends at the top-right.
        (6, TOP_RIGHT),
        # 8: the other way; the stored top-left ends at the bottom-left.
        (8, BOTTOM_LEFT),
    ],
)
def test_exif_orientation_is_applied(orientation: int, corner: tuple[slice, slice]) -> None:
    stored = np.zeros((40, 60, 3), dtype=np.uint8)  # 40 high, 60 wide
    stored[:10, :10] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _save(Image.fromarray(stored), "JPEG", exif=exif, quality=95)

    rgb = load_image(data)

    assert rgb.shape == (60, 40, 3)
    marker = rgb[corner].reshape(-1, 3).mean(axis=0)
    assert marker[0] > 200
    assert max(marker[1], marker[2]) < 60
    assert rgb[TOP_LEFT].mean() < 40  # not left where it was stored


# --- pixel modes ----------------------------------------------------------------------------


def test_palette_with_transparency_is_composited_on_white() -> None:
    indices = np.zeros((8, 8), dtype=np.uint8)
    indices[:, 4:] = 1
    image = Image.new("P", (8, 8))
    image.putdata(indices.ravel().tolist())
    image.putpalette([0, 0, 0, *RED])
    data = _save(image, "PNG", transparency=0)

    rgb = load_image(data)

    assert (rgb[:, :4] == WHITE).all()  # transparent black -> white, not black
    assert (rgb[:, 4:] == RED).all()


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    rgba = np.zeros((6, 9, 4), dtype=np.uint8)  # black everywhere
    rgba[:, 3:6, 3] = 128  # half transparent
    rgba[:, 6:, 3] = 255  # opaque
    data = _save(Image.fromarray(rgba).convert(mode), "PNG")

    rgb = load_image(data)

    assert rgb.shape == (6, 9, 3)
    assert (rgb[:, :3] == 255).all()  # fully transparent: the white background
    assert np.abs(rgb[:, 3:6].astype(int) - 127).max() <= 1  # black at 50 % over white
    assert (rgb[:, 6:] == 0).all()  # opaque black stays black


def test_grayscale() -> None:
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (5, 1))
    rgb = load_image(_save(Image.fromarray(grey), "PNG"))
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey)


def test_bilevel() -> None:
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(bool)
    rgb = load_image(_save(Image.fromarray(checker).convert("1"), "PNG"))
    np.testing.assert_array_equal(rgb[..., 1], np.where(checker, 255, 0))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan ink
    rgb = load_image(_save(cmyk, "JPEG", quality=95))
    assert rgb.shape == (16, 16, 3)
    np.testing.assert_allclose(rgb.reshape(-1, 3).mean(axis=0), (0, 255, 255), atol=4)


def test_16_bit_png_is_scaled_not_clipped() -> None:
    samples = np.array([[0, 257, 25700, 32896, 65535, 1000]], dtype=np.uint16)
    data = _save(Image.fromarray(samples), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really a 16-bit file

    rgb = load_image(data)

    # round(v / 257): 65535 -> 255 and 25700 -> 100 (a plain conversion would clip to 255).
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 1, 100, 128, 255, 4])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


@pytest.mark.parametrize(("fmt", "params"), [("GIF", {}), ("WEBP", {"lossless": True})])
def test_animation_gives_its_first_frame(fmt: str, params: dict[str, object]) -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in (RED, (0, 255, 0), (0, 0, 255))]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)
    assert Image.open(io.BytesIO(data)).n_frames == 3

    rgb = load_image(data)

    assert rgb.shape == (20, 30, 3)
    assert (rgb == RED).all()


# --- refusals -------------------------------------------------------------------------------


def test_truncated_jpeg_is_invalid(astronaut: np.ndarray) -> None:
    data = encode(astronaut, "JPEG")[:5000]
    with pytest.raises(InvalidImage, match=r"JPEG.*5000 bytes"):
        load_image(data)


def test_empty_bytes_are_invalid() -> None:
    with pytest.raises(InvalidImage, match="0 bytes"):
        load_image(b"")


def test_text_is_invalid_and_the_message_shows_it() -> None:
    data = b"hello, this is not a photo\n"
    with pytest.raises(InvalidImage, match=rf"{len(data)} bytes.*hello, this"):
        load_image(data)


def test_format_outside_the_allow_list_is_named(chelsea: np.ndarray) -> None:
    data = encode(chelsea, "PPM")  # Pillow reads it, but it is no format a user sends
    with pytest.raises(InvalidImage, match=rf"PPM \({len(data)} bytes\)"):
        load_image(data)


def test_corrupt_png_data_is_invalid(chelsea: np.ndarray) -> None:
    data = bytearray(encode(chelsea, "PNG"))
    data[200:400] = bytes(200)  # zero out part of the compressed stream
    with pytest.raises(InvalidImage, match="PNG"):
        load_image(bytes(data))


@pytest.mark.usefixtures("no_pixel_decoding")
def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _bilevel_png(20_000, 20_000)  # 400 megapixels in about 50 KB
    assert len(data) < 100_000
    with pytest.raises(ImageTooLarge, match="400000000"):
        load_image(data)


@pytest.mark.usefixtures("no_pixel_decoding")
def test_pixel_limit_is_checked_from_the_header() -> None:
    # 60 MP: over our 50 MP limit but under Pillow's own bomb threshold, so ours must act.
    data = _bilevel_png(10_000, 6_000)
    with pytest.raises(ImageTooLarge, match=r"10000x6000 = 60000000 pixels.*50000000"):
        load_image(data)


def test_custom_pixel_limit(chelsea: np.ndarray) -> None:
    data = encode(chelsea[:20, :30], "PNG")
    with pytest.raises(ImageTooLarge, match="600 pixels exceeds the limit of 599"):
        load_image(data, ImageLimits(max_pixels=599))
    assert load_image(data, ImageLimits(max_pixels=600)).shape == (20, 30, 3)


def test_byte_limit_is_checked_before_parsing(
    chelsea: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(chelsea, "JPEG")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bytes were parsed")

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageTooLarge, match=rf"{len(data)} bytes exceeds the limit of 1000"):
        load_image(data, ImageLimits(max_bytes=1000))


# --- resize_longer_side ---------------------------------------------------------------------


def test_resize_longer_side_keeps_the_aspect_ratio(chelsea: np.ndarray) -> None:
    small = resize_longer_side(chelsea, 200)  # 300 x 451
    assert small.shape == (133, 200, 3)
    assert small.dtype == np.uint8
    assert abs(float(small.mean()) - float(chelsea.mean())) < 2


def test_resize_longer_side_never_upscales(chelsea: np.ndarray) -> None:
    assert resize_longer_side(chelsea, 451) is chelsea
    assert resize_longer_side(chelsea, 1000) is chelsea


def test_resize_longer_side_antialiases() -> None:
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes alias to solid colours without a filter
    small = resize_longer_side(stripes, 16)
    assert np.abs(small.astype(int) - 128).max() < 20
