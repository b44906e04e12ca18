"""Hostile input, end to end: a corpus of broken, odd and malicious files, built here (nothing
binary is committed), sent through the real bot and the Bot API emulator.

Every file gets one clear, friendly reply -- never a traceback, never silence -- and the bot
keeps working afterwards. What each kind of file gets, and why:

* broken or disguised images (truncated/corrupt JPEG and PNG, zero bytes, text or HTML or
  PostScript named ``.jpg``/``.png``, a PNG whose metadata inflates to megabytes): "I couldn't
  read that image" -- after the download, from the safe loader;
* decompression bombs (a few KB claiming 64 or 900 megapixels): "That image is too large",
  refused from the header, before any pixel is decoded;
* a file declared above Telegram's 20 MB: refused from ``file_size``, never downloaded;
* files that are not images we take (HTML, SVG, GIF -- Telegram turns GIFs into animations):
  "That file isn't an image I can use", never downloaded;
* odd but valid images (1x1, 10000x10, 10x10000, animated WEBP, CMYK JPEG, 16-bit PNG, a
  palette with transparency): a sticker -- or, for a lone grey pixel, "I couldn't find any
  object". Extreme aspect ratios go through compose like any photo.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.config import TELEGRAM_DOWNLOAD_LIMIT
from tests.bot.botkit import WAIT_S, photo, texted, texts_to, to, uploaded
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator

RED = (220, 30, 30)
GREY = (128, 128, 128)

# What the user reads (fragments of bot/texts.py), by outcome.
UNREADABLE = "I couldn't read that image: it looks damaged or isn't a picture."
IMAGE_TOO_LARGE = "That image is too large for me. Please send a smaller one."
FILE_TOO_LARGE = "That file is 25 MB; I can take images up to 20 MB."
NOT_AN_IMAGE = "That file isn't an image I can use. Send a photo, or a JPEG, PNG or WEBP file."
NO_OBJECT = "I couldn't find any object I know in this photo."
STICKER = "Done ✓"
# Words that would mean an internal error leaked into a reply.
LEAKS = ("Traceback", "Error", "Exception", "errno", "PIL", "bytes", "0x", "\\x", "None")


# --- building the corpus ----------------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _picture(width: int, height: int) -> np.ndarray:
    """Grey, with a red disk (the stand-in model's ``cat``) left of the centre."""
    rgb = np.full((height, width, 3), GREY, np.uint8)
    yy, xx = np.mgrid[:height, :width]
    radius = min(width, height) * 0.3
    rgb[(xx - width * 0.4) ** 2 + (yy - height * 0.5) ** 2 < radius**2] = RED
    return rgb


def _strip(width: int, height: int) -> bytes:
    """An extreme aspect ratio: the first half (along the long side) red, the rest grey."""
    rgb = np.full((height, width, 3), GREY, np.uint8)
    if width >= height:
        rgb[:, : width // 2] = RED
    else:
        rgb[height // 2 :, :] = RED
    return _save(Image.fromarray(rgb), "PNG")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, depth: int, colour: int, rows: Callable[[], bytes]) -> bytes:
    """A PNG written by hand (Pillow cannot write some of the files we want)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows())
        + _chunk(b"IEND", b"")
    )


def _bomb(side: int) -> bytes:
    """A complete, valid 1-bit PNG of side x side black pixels: a few KB of zlib."""

    def rows() -> bytes:
        compressor = zlib.compressobj(9)
        row = b"\0" * (1 + (side + 7) // 8)
        block = row * 256
        parts = [compressor.compress(block) for _ in range(side // 256)]
        parts += [compressor.compress(row * (side % 256)), compressor.flush()]
        return b"".join(parts)

    return _png(side, side, 1, 0, rows)


def _png_16_bit_rgb() -> bytes:
    """48-bit RGB (16 bits a sample), hand-written; a red disk on grey."""
    wide = _picture(160, 120).astype(">u2") * 257
    raw = b"".join(b"\0" + row.tobytes() for row in wide)
    return _png(160, 120, 16, 2, lambda: zlib.compress(raw))


def _text_bomb() -> bytes:
    """A valid PNG with a zTXt chunk that inflates to 64 MB of metadata."""
    png = _save(Image.fromarray(_picture(64, 48)), "PNG")
    payload = b"Comment\0\0" + zlib.compress(b" " * (64 * 1024 * 1024), 9)
    end = png.rindex(b"IEND") - 4
    return png[:end] + _chunk(b"zTXt", payload) + png[end:]


def _corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman tables are overwritten: the header parses, the data cannot."""
    data = bytearray(photo())
    start = data.index(b"\xff\xc4")
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    data[start + 5 : start + 2 + length] = b"\xff" * (length - 3)
    return bytes(data)


def _corrupt_png() -> bytes:
    """A PNG whose compressed pixel data is scrambled halfway through."""
    data = bytearray(_save(Image.fromarray(_picture(120, 90)), "PNG"))
    start = data.index(b"IDAT") + 4
    end = start + int.from_bytes(data[start - 8 : start - 4], "big")
    middle = (start + end) // 2
    data[middle : middle + 64] = bytes(range(64))
    return bytes(data)


def _animated_gif() -> bytes:
    frames = [Image.fromarray(_picture(60, 40)), Image.new("RGB", (60, 40), (0, 0, 255))]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def _animated_webp() -> bytes:
    frames = [Image.fromarray(_picture(120, 90)), Image.new("RGB", (120, 90), GREY)]
    return _save(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )


def _palette_with_transparency() -> bytes:
    """A red disk on a fully transparent background, in a 2-colour palette."""
    disk = (_picture(120, 90) == RED).all(axis=-1)
    image = Image.fromarray(disk.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, *RED])
    return _save(image, "PNG", transparency=0)


def _cmyk_jpeg() -> bytes:
    return _save(Image.fromarray(_picture(160, 120)).convert("CMYK"), "JPEG", quality=95)


def _postscript() -> bytes:
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(/etc/passwd) run\nshowpage\n"


HTML = b"<!doctype html><html><script>alert(1)</script><img src=x onerror=alert(2)></html>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    b'<image xlink:href="file:///etc/passwd"/></svg>'
)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    # "photo" (Telegram's compressed photo) or a document with this name and MIME type.
    file_name: str | None
    mime_type: str
    expect: str
    declared_size: int | None = None

    @property
    def downloads(self) -> bool:
        """Whether the bot has to fetch the file to answer (else: refused from the update)."""
        return self.expect not in (NOT_AN_IMAGE, FILE_TOO_LARGE)

    def send(self, emu: BotApiEmulator, user: int) -> dict[str, Any]:
        """The user sends the file; returns the Update."""
        if self.file_name is None:
            return emu.send_photo(user, self.data)
        return emu.send_document(
            user,
            self.data,
            file_name=self.file_name,
            mime_type=self.mime_type,
            declared_file_size=self.declared_size,
        )


@cache
def corpus() -> tuple[Case, ...]:
    jpeg, png = photo(), _save(Image.fromarray(_picture(120, 90)), "PNG")
    return (
        Case("truncated-jpeg", jpeg[: len(jpeg) // 2], "cut.jpg", "image/jpeg", UNREADABLE),
        Case("corrupt-jpeg", _corrupt_jpeg(), "bad.jpg", "image/jpeg", UNREADABLE),
        Case("truncated-png", png[: len(png) * 2 // 3], "cut.png", "image/png", UNREADABLE),
        Case("corrupt-png", _corrupt_png(), "bad.png", "image/png", UNREADABLE),
        Case("zero-bytes", b"", "empty.jpg", "image/jpeg", UNREADABLE),
        Case(
            "text-named-jpg", b"hello, this is not a photo\n", "cat.jpg", "image/jpeg", UNREADABLE
        ),
        Case("html-named-png", HTML, "cat.png", "image/png", UNREADABLE),
        Case("postscript-named-jpg", _postscript(), "cat.jpg", "image/jpeg", UNREADABLE),
        Case("ztxt-metadata-bomb", _text_bomb(), "meta.png", "image/png", UNREADABLE),
        Case("bomb-64-megapixels", _bomb(8000), "bomb.png", "image/png", IMAGE_TOO_LARGE),
        Case("bomb-900-megapixels", _bomb(30000), "bomb.png", "image/png", IMAGE_TOO_LARGE),
        Case(
            "oversized-file",
            jpeg,
            "huge.jpg",
            "image/jpeg",
            FILE_TOO_LARGE,
            declared_size=TELEGRAM_DOWNLOAD_LIMIT + 5 * 1024 * 1024,
        ),
        Case("html-document", HTML, "page.html", "text/html", NOT_AN_IMAGE),
        Case("svg-document", SVG, "cat.svg", "image/svg+xml", NOT_AN_IMAGE),
        Case("animated-gif", _animated_gif(), "cat.gif", "image/gif", NOT_AN_IMAGE),
        Case("1x1-grey-photo", _save(Image.new("RGB", (1, 1), GREY), "JPEG"), None, "", NO_OBJECT),
        Case(
            "1x1-red-png",
            _save(Image.new("RGB", (1, 1), RED), "PNG"),
            "dot.png",
            "image/png",
            STICKER,
        ),
        Case("10000x10-png", _strip(10000, 10), "wide.png", "image/png", STICKER),
        Case("10x10000-png", _strip(10, 10000), "tall.png", "image/png", STICKER),
        Case("animated-webp", _animated_webp(), "cat.webp", "image/webp", STICKER),
        Case("cmyk-jpeg-document", _cmyk_jpeg(), "cmyk.jpg", "image/jpeg", STICKER),
        Case("cmyk-jpeg-photo", _cmyk_jpeg(), None, "", STICKER),
        Case("16-bit-rgb-png", _png_16_bit_rgb(), "deep.png", "image/png", STICKER),
        Case(
            "palette-with-transparency",
            _palette_with_transparency(),
            "clear.png",
            "image/png",
            STICKER,
        ),
    )


CASES = {case.name: case for case in corpus()}


# --- what the user got ------------------------------------------------------------------------


def _file_ids(update: dict[str, Any]) -> set[str]:
    message = update["message"]
    sizes = message.get("photo") or [message["document"]]
    return {size["file_id"] for size in sizes}


async def _answered(emu: BotApiEmulator, user: int, case: Case) -> None:
    """Wait until the user has a final answer (whichever it is: :func:`_check` judges it)."""
    if case.downloads:
        # The "Queued" line is edited last, once the sticker or the explanation is out.
        await emu.wait_for("editMessageText", to(user), WAIT_S)
    else:
        await emu.wait_for("sendMessage", to(user), WAIT_S)


def _check(emu: BotApiEmulator, user: int, case: Case, update: dict[str, Any]) -> list[str]:
    """What is wrong with the answer ``user`` got for ``case`` (nothing: an empty list)."""
    problems = []
    said = texts_to(emu, user)
    answers = [text for text in said if case.expect in text]
    if len(answers) != 1:
        problems.append(f"expected one reply with {case.expect!r}, saw {said}")
    leaked = [text for text in said for word in LEAKS if word in text]
    if leaked:
        problems.append(f"a reply leaks internals: {leaked}")
    documents = [c for c in emu.calls_to("sendDocument") if to(user)(c)]
    if case.expect == STICKER:
        if len(documents) != 1:
            problems.append(f"expected one sticker document, got {len(documents)}")
        else:
            with Image.open(io.BytesIO(uploaded(documents[0], "document"))) as sticker:
                if (sticker.format, sticker.mode, sticker.size) != ("PNG", "RGBA", (512, 512)):
                    problems.append(f"not a 512x512 RGBA PNG: {sticker.format} {sticker.mode}")
    elif documents:
        problems.append("a sticker was sent for a file that should have none")
    fetched = [c for c in emu.calls_to("getFile") if c.params.get("file_id") in _file_ids(update)]
    if not case.downloads and fetched:
        problems.append("the file was fetched although the update alone decides")
    return problems


# --- the tests --------------------------------------------------------------------------------

USER = 1000


@pytest.mark.parametrize("case", corpus(), ids=[case.name for case in corpus()])
async def test_each_hostile_file_gets_one_clear_reply(
    emulator: BotApiEmulator, start_bot: StartBot, case: Case
) -> None:
    bot = await start_bot()
    update = case.send(emulator, USER)
    await _answered(emulator, USER, case)
    await bot.worker.wait_idle()
    assert _check(emulator, USER, case, update) == []


async def test_the_whole_corpus_at_once_then_a_normal_photo(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    """Every hostile file in one burst (a user each): each answered once, none mixed up,
    and the bot is fine afterwards."""
    bot = await start_bot()
    updates = {USER + i: (case, case.send(emulator, USER + i)) for i, case in enumerate(corpus())}
    for user, (case, _) in updates.items():
        await _answered(emulator, user, case)
    await bot.worker.wait_idle()
    problems = {
        case.name: found
        for user, (case, update) in updates.items()
        if (found := _check(emulator, user, case, update))
    }
    assert problems == {}

    emulator.send_photo(USER, photo())
    last_job = sum(case.downloads for case in corpus()) + 1
    await emulator.wait_for("editMessageText", texted(USER, f"Done ✓ #{last_job}"), WAIT_S)
    assert bot.engine.ready
    assert bot.worker.running
