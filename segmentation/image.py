"""Safe decoding of untrusted image bytes into an RGB array.

Everything a user sends goes through :func:`load_image` before any model sees it:

* the byte size is checked before anything is parsed (:class:`ImageTooLarge`);
* only the header is read first, and the pixel count is checked before the pixel data is
  decoded, so a few KB of PNG claiming gigapixels costs nothing (Pillow's own
  decompression-bomb guard is mapped to :class:`ImageTooLarge` too);
* only common raster formats are opened (no EPS/PostScript, which Pillow hands to
  Ghostscript);
* the EXIF orientation is applied, so the array is the photo as the user saw it;
* every pixel mode ends as ``H x W x 3`` ``uint8`` RGB: palette, grey, 1-bit, CMYK and
  16-bit grey (scaled, not clipped) are converted; animated GIF/WEBP give their first frame;
* an image with an alpha channel (RGBA, LA, a palette or PNG with transparency) is composited
  on **white**: what is transparent shows as white in Telegram's chat, so the network sees
  the picture the user saw; the input's alpha is *not* taken as the object mask (an image
  with a transparent background still goes through segmentation like any photo);
* truncated, corrupt, empty and non-image input raises :class:`InvalidImage` whose message
  says what was received (size in bytes, detected format, first bytes).
"""

from __future__ import annotations

import io
import logging
import struct
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from segmentation.errors import ImageTooLarge, InvalidImage
from segmentation.options import ImageLimits

logger = logging.getLogger(__name__)

# Raster formats a photo or a picture sent as a file can reasonably be in. Anything else is
# refused without being decoded: fewer parsers reachable from untrusted bytes, and no
# formats whose decoding runs an external program (EPS runs Ghostscript). Multi-picture JPEGs
# (MPO, written by many phones) come in through the JPEG opener, so "JPEG" admits them too.
ALLOWED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# The project's limits (segmentation.limits); frozen, so safe as a shared default argument.
DEFAULT_LIMITS: Final = ImageLimits()

# Background that transparent pixels are composited on: Telegram shows transparency as the
# chat's light background, so white is the closest to what the user saw.
ALPHA_BACKGROUND: Final[tuple[int, int, int, int]] = (255, 255, 255, 255)

# 16-bit samples map to 8 bits by dividing by 257 (65535 / 255), so 0 -> 0 and 65535 -> 255
# exactly; Pillow's own convert("L") clips 16-bit values at 255 instead of scaling them.
_UINT16_TO_UINT8: Final = 257.0

# Modes whose pixels carry an alpha channel (premultiplied ones included).
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# Pillow's 16-bit (and 32-bit integer) single-channel modes; their samples span 0..65535.
_WIDE_GREY_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

# Exceptions Pillow raises on corrupt or truncated data (OSError covers "image file is
# truncated" and UnidentifiedImageError; the others come from malformed headers/chunks).
# Pillow *warns* about some damage ("Corrupt EXIF data" in a TIFF header or a JPEG's EXIF);
# where the warnings filter turns warnings into errors (``-W error``, the test suite), that
# warning is raised and is one more decoding failure (the decompression-bomb warning is
# caught before these, in _open).
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    Warning,
)

# How many leading bytes an error message quotes, to show what a non-image actually was.
_PREVIEW_BYTES: Final = 16

# resize_longer_side first shrinks by an integer factor with a box filter while the image is
# more than this many times the target, then finishes with Lanczos; Pillow documents 3.0 as
# indistinguishable from a plain Lanczos resize, at a fraction of the cost for big photos.
_REDUCING_GAP: Final = 3.0


def load_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> npt.NDArray[np.uint8]:
    """Decode untrusted image bytes into an ``H x W x 3`` ``uint8`` RGB array.

    Raises :class:`ImageTooLarge` when ``data`` is longer than ``limits.max_bytes`` (checked
    before parsing) or the image has more than ``limits.max_pixels`` pixels (checked from
    the header, before the pixel data is decoded), and :class:`InvalidImage` when the bytes
    are not a complete image in one of :data:`ALLOWED_FORMATS`.
    """
    size = len(data)
    if size > limits.max_bytes:
        raise ImageTooLarge(f"file of {size} bytes exceeds the limit of {limits.max_bytes} bytes")
    if size == 0:
        raise InvalidImage("received 0 bytes: the file is empty")

    image = _open(data, limits)
    try:
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageTooLarge(
                f"{image.format} image of {width}x{height} = {width * height} pixels exceeds "
                f"the limit of {limits.max_pixels} pixels"
            )
        try:
            image.seek(0)  # first frame of an animation (a no-op for still images)
            image.load()
        except _DECODE_ERRORS as exc:
            raise InvalidImage(
                f"cannot decode {image.format} image ({width}x{height}, {size} bytes): {exc}"
            ) from exc
        rgb = _to_rgb(_upright(image), image.format, size)
    finally:
        image.close()
    logger.debug("decoded %s image: %d bytes -> %s", image.format, size, rgb.shape)
    return rgb


def resize_longer_side(rgb: npt.NDArray[np.uint8], side: int) -> npt.NDArray[np.uint8]:
    """Downscale ``rgb`` so that its longer side is ``side`` pixels, keeping the aspect ratio.

    Antialiased (Lanczos). An image whose longer side is already at most ``side`` is
    returned unchanged: upscaling adds no information.
    """
    if side < 1:
        raise ValueError(f"side must be positive, got {side}")
    height, width = rgb.shape[:2]
    longer = max(height, width)
    if longer <= side:
        return rgb
    scale = side / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(rgb).resize(
        size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP
    )
    return np.asarray(resized, dtype=np.uint8)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block costs the rotation, not the photo."""
    try:
        return ImageOps.exif_transpose(image) or image  # None only when in_place=True
    except _DECODE_ERRORS as exc:
        logger.warning("ignoring unreadable EXIF orientation of a %s image: %s", image.format, exc)
        return image


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    """Parse the header only (Pillow decodes lazily); map every failure to our errors."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning is an exception only where warnings are errors (as in the tests);
        # elsewhere Pillow just warns and our own pixel limit, lower than Pillow's, refuses.
        raise ImageTooLarge(
            f"image of {len(data)} bytes is too large (our limit: {limits.max_pixels} pixels): "
            f"{exc}"
        ) from exc
    except UnidentifiedImageError as exc:
        detected = _identify(data)
        if detected is not None:
            supported = ", ".join(ALLOWED_FORMATS)
            raise InvalidImage(
                f"unsupported image format {detected} ({len(data)} bytes); supported: {supported}"
            ) from exc
        raise InvalidImage(
            f"not an image: received {len(data)} bytes starting with {data[:_PREVIEW_BYTES]!r}"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImage(f"corrupt image header ({len(data)} bytes): {exc}") from exc


def _identify(data: bytes) -> str | None:
    """Name the format of bytes we refused to open, for the error message (header only)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except Exception:  # any failure just means "unknown": this only feeds a message
        return None


def _to_rgb(image: Image.Image, fmt: str | None, size: int) -> npt.NDArray[np.uint8]:
    """Convert a loaded image of any Pillow mode to an ``H x W x 3`` ``uint8`` array."""
    mode = image.mode
    if mode in _WIDE_GREY_MODES:
        wide = np.asarray(image).astype(np.float64)
        grey = np.rint(np.clip(wide, 0.0, 65535.0) / _UINT16_TO_UINT8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
    try:
        if mode in _ALPHA_MODES or "transparency" in image.info:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND)
            rgb_image = Image.alpha_composite(background, rgba).convert("RGB")
        else:
            rgb_image = image.convert("RGB")
    except ValueError as exc:  # Pillow has no conversion for this mode
        raise InvalidImage(
            f"unsupported pixel mode {mode!r} in {fmt} image ({size} bytes): {exc}"
        ) from exc
    return np.asarray(rgb_image, dtype=np.uint8)
