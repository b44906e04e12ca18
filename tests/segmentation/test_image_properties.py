"""Property-based tests of the image loader: no bytes whatsoever make ``load_image`` raise
anything but its documented errors (:class:`InvalidImage`, :class:`ImageTooLarge`), and what
it returns is always an ``H x W x 3`` ``uint8`` array within the limits.

Three sources of input: arbitrary bytes; arbitrary bytes behind a real format's signature (to
get past the format detection into each parser); and real files of every allowed format,
mutated (bytes overwritten, cut short, spliced, chunks repeated), which reaches deep into the
decoders. The suite's warnings-are-errors filter applies, so a warning escaping the loader
fails too.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from segmentation.errors import ImageTooLarge, InvalidImage
from segmentation.image import load_image
from segmentation.options import ImageLimits

# Small enough that a mutated header claiming a big picture is refused or decoded quickly;
# the loader's logic does not depend on the limit's value.
LIMITS = ImageLimits(max_bytes=1024 * 1024, max_pixels=1_000_000)

SIGNATURES = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # JPEG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # PNG
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",  # WEBP
    b"GIF89a",  # GIF
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"%!PS-Adobe-3.0 EPSF-3.0\n",  # EPS: refused, never handed to Ghostscript
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000: refused
)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@cache
def real_files() -> tuple[bytes, ...]:
    """Small real images in every allowed format and in the odd modes the loader converts."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), np.uint8)
    rgb[6:18, 8:24] = (220, 30, 30)
    image = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    frames = [image, Image.new("RGB", image.size, (0, 0, 255))]
    return (
        _save(image, "JPEG", quality=80),
        _save(image, "JPEG", quality=80, progressive=True, exif=exif),
        _save(image.convert("CMYK"), "JPEG"),
        _save(image, "PNG"),
        _save(image.convert("RGBA"), "PNG"),
        _save(image.convert("P"), "PNG", transparency=0),
        _save(Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG"),
        _save(image.convert("1"), "PNG"),
        _save(image, "WEBP", quality=80),
        _save(image, "WEBP", save_all=True, append_images=frames[1:], lossless=True),
        _save(image, "GIF", save_all=True, append_images=frames[1:]),
        _save(image, "BMP"),
        _save(image, "TIFF", compression="tiff_lzw"),
    )


def check(data: bytes, limits: ImageLimits = LIMITS) -> None:
    """The property: a documented error, or a valid RGB array within the limits."""
    try:
        rgb = load_image(data, limits)
    except (InvalidImage, ImageTooLarge) as exc:
        event(type(exc).__name__)  # --hypothesis-show-statistics: how deep the inputs got
        message = str(exc)
        assert message  # every refusal says something
        return
    event("loaded")
    assert isinstance(rgb, np.ndarray)
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
    assert rgb.shape[2] == 3
    assert rgb.shape[0] >= 1
    assert rgb.shape[1] >= 1
    assert rgb.shape[0] * rgb.shape[1] <= limits.max_pixels


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real file with a few of: bytes overwritten, a cut, a splice, a repeated piece."""
    data = bytearray(draw(st.sampled_from(real_files())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["overwrite", "cut", "splice", "repeat", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(patch)] = patch
        elif kind == "cut":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "repeat":
            length = draw(st.integers(1, 256))
            data[at:at] = data[at : at + length]
        else:  # the header holds sizes, modes and offsets: hit it more often
            position = draw(st.integers(0, min(len(data), 64)))
            data[position : position + 1] = draw(st.binary(min_size=1, max_size=1))
        if not data:
            break
    return bytes(data)


def test_every_real_file_loads() -> None:
    """The base of the mutations: all valid, so the mutants start from the decoders' paths."""
    for data in real_files():
        rgb = load_image(data, LIMITS)
        assert rgb.shape in ((24, 32, 3), (32, 24, 3))  # the EXIF-rotated one is upright


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data, ImageLimits())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SIGNATURES), st.binary(max_size=512))
def test_arbitrary_bytes_behind_a_real_signature(signature: bytes, rest: bytes) -> None:
    check(signature + rest)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_files(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("limit", [1, 100, 767, 768])
def test_the_pixel_limit_holds_exactly(limit: int) -> None:
    """768 = 32 x 24 pixels: refused at any lower limit, loaded at the limit."""
    data = real_files()[3]
    if limit < 768:
        with pytest.raises(ImageTooLarge):
            load_image(data, ImageLimits(max_pixels=limit))
    else:
        assert load_image(data, ImageLimits(max_pixels=limit)).shape == (24, 32, 3)
