"""The emulator's sticker-set methods refuse what Telegram refuses, with Telegram's words.

Rules: Bot API createNewStickerSet / addStickerToSet / uploadStickerFile / InputSticker and
core.telegram.org/stickers (name 1-64 chars of letters, digits and underscores, starting with
a letter, no "__", ending in ``_by_<bot username>``; 120 stickers per static set; static
stickers PNG/WEBP, one side 512 px, the other at most 512, at most 512 KB; 1-20 emoji). Error
texts as the Bot API server words them (PTB capitalises them: "Peer_id_invalid").
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
import telegram
from PIL import Image
from telegram import InputSticker
from telegram.error import BadRequest, TelegramError

from tests.bot.emulator import BotApiEmulator

USER = 42
GROUP = -100123
BOT = "sticker_test_bot"
NAME = f"cats_by_{BOT}"


def png(width: int = 512, height: int = 512, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA" if fmt != "JPEG" else "RGB", (width, height), (200, 30, 90)).save(
        buffer, format=fmt
    )
    return buffer.getvalue()


def noisy_png() -> bytes:
    """A 512x512 PNG of random pixels: well over 512 KB (PNG cannot compress noise)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (512, 512, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def sticker(data: bytes | str | None = None, emoji: list[str] | None = None) -> InputSticker:
    return InputSticker(png() if data is None else data, emoji or ["🐱"], format="static")


@asynccontextmanager
async def ptb_bot(emu: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    bot = telegram.Bot(emu.token, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")
    async with bot:
        yield bot


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    """A PTB bot; USER has started it (a private chat)."""
    emulator.send_text(USER, "/start")
    async with ptb_bot(emulator) as ptb:
        yield ptb


async def test_a_valid_set_is_created_and_read_back(
    emulator: BotApiEmulator, bot: telegram.Bot
) -> None:
    wide = png(512, 384)  # one side 512, the other smaller: allowed
    name = f"Cats_2_BY_{BOT.upper()}"  # the bot's username is case-insensitive
    assert await bot.create_new_sticker_set(USER, name, "Cats", [sticker(wide, ["🐱", "😺"])])
    found = await bot.get_sticker_set(name.lower())
    assert found.title == "Cats"
    assert [(s.width, s.height, s.emoji) for s in found.stickers] == [(512, 384, "🐱")]
    record = emulator.sticker_set(name)
    assert record is not None
    assert record["owner"] == USER


@pytest.mark.parametrize(
    "name",
    [
        f"1cats_by_{BOT}",  # starts with a digit
        f"_cats_by_{BOT}",  # starts with an underscore
        "cats_by_other_bot",  # another bot's suffix
        f"cats_{BOT}",  # no _by_
        f"cats__two_by_{BOT}",  # consecutive underscores
        f"cats-two_by_{BOT}",  # a character outside [A-Za-z0-9_]
        f"kätzchen_by_{BOT}",  # not English letters
        "c" * (65 - len(f"_by_{BOT}")) + f"_by_{BOT}",  # 65 characters
    ],
)
async def test_invalid_set_names_are_refused(bot: telegram.Bot, name: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)invalid sticker set name is specified"):
        await bot.create_new_sticker_set(USER, name, "Cats", [sticker()])


async def test_a_64_character_name_is_fine(bot: telegram.Bot) -> None:
    name = "c" * (64 - len(f"_by_{BOT}")) + f"_by_{BOT}"
    assert len(name) == 64
    assert await bot.create_new_sticker_set(USER, name, "Cats", [sticker()])


async def test_a_taken_name_is_refused(bot: telegram.Bot) -> None:
    assert await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker()])
    with pytest.raises(BadRequest, match=r"(?i)sticker set name is already occupied"):
        await bot.create_new_sticker_set(USER, NAME.upper(), "Cats", [sticker()])


async def test_a_just_deleted_name_cannot_be_reused(bot: telegram.Bot) -> None:
    assert await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker()])
    assert await bot.delete_sticker_set(NAME)
    with pytest.raises(TelegramError, match="created sticker set not found"):
        await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker()])


async def test_the_owner_must_exist_and_have_started_the_bot(
    emulator: BotApiEmulator, bot: telegram.Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)user not found"):
        await bot.create_new_sticker_set(999, NAME, "Cats", [sticker()])
    emulator.send_text(777, "hello everyone", chat_id=GROUP)  # met the bot in a group only
    with pytest.raises(BadRequest, match=r"(?i)peer_id_invalid"):
        await bot.create_new_sticker_set(777, NAME, "Cats", [sticker()])
    with pytest.raises(BadRequest, match=r"(?i)peer_id_invalid"):
        await bot.upload_sticker_file(777, png(), "static")
    with pytest.raises(BadRequest, match=r"(?i)user_is_bot"):
        await bot.create_new_sticker_set(bot.id, NAME, "Cats", [sticker()])
    assert emulator.sticker_set(NAME) is None


async def test_a_static_set_holds_120_stickers(emulator: BotApiEmulator, bot: telegram.Bot) -> None:
    emulator.seed_sticker_set(NAME, USER, 119)
    assert await bot.add_sticker_to_set(USER, NAME, sticker())  # the 120th
    with pytest.raises(BadRequest, match=r"(?i)stickers_too_much"):
        await bot.add_sticker_to_set(USER, NAME, sticker())
    found = emulator.sticker_set(NAME)
    assert found is not None
    assert len(found["stickers"]) == 120


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (png(500, 500), "sticker_png_dimensions"),  # no side is 512
        (png(512, 600), "sticker_png_dimensions"),  # a side above 512
        (png(512, 512, "JPEG"), "sticker_png_nopng"),  # not PNG/WEBP
        (b"not an image at all", "image_process_failed"),
    ],
)
async def test_static_stickers_follow_the_image_rules(
    bot: telegram.Bot, data: bytes, error: str
) -> None:
    with pytest.raises(BadRequest, match=rf"(?i){error}"):
        await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker(data)])
    with pytest.raises(BadRequest, match=rf"(?i){error}"):
        await bot.upload_sticker_file(USER, data, "static")


async def test_a_sticker_over_512_kb_is_refused(bot: telegram.Bot) -> None:
    big = noisy_png()
    assert len(big) > 512 * 1024
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker(big)])


@pytest.mark.parametrize("emoji", [[], ["cat"], ["🐱"] * 21, ["🐱 🐶"]])
async def test_one_to_twenty_real_emoji(bot: telegram.Bot, emoji: list[str]) -> None:
    item = InputSticker(png(), emoji, format="static")
    with pytest.raises(BadRequest, match=r"(?i)invalid sticker emojis"):
        await bot.create_new_sticker_set(USER, NAME, "Cats", [item])


async def test_titles_are_1_to_64_characters(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)stickerset_title_invalid"):
        await bot.create_new_sticker_set(USER, NAME, "x" * 65, [sticker()])


async def test_file_ids_of_sent_stickers_and_uploads_can_be_added(
    emulator: BotApiEmulator, bot: telegram.Bot
) -> None:
    sent = await bot.send_sticker(USER, png())
    assert sent.sticker is not None
    uploaded = await bot.upload_sticker_file(USER, png(384, 512), "static")
    assert await bot.create_new_sticker_set(USER, NAME, "Cats", [sticker(sent.sticker.file_id)])
    assert await bot.add_sticker_to_set(USER, NAME, sticker(uploaded.file_id, ["🐶"]))
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.add_sticker_to_set(USER, NAME, sticker("CAACAgIAAxkBAAIunknown"))
    found = emulator.sticker_set(NAME)
    assert found is not None
    assert [(s["width"], s["emoji"]) for s in found["stickers"]] == [(512, "🐱"), (384, "🐶")]


async def test_adding_to_an_unknown_set_is_refused(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)stickerset_invalid"):
        await bot.add_sticker_to_set(USER, f"nothing_by_{BOT}", sticker())
