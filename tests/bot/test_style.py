"""/style end to end: buttons, the chosen outline on the next sticker, kept per chat."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from bot.chats import ChatSettings
from bot.handlers.style import parse_style
from bot.journal import Journal
from tests.bot.botkit import USER, WAIT_S, photo, reply, texted
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.bot.test_flow import decode_png, sticker_for


def _painted(png: bytes, colour: int) -> int:
    """Opaque pixels of exactly (colour, colour, colour)."""
    rgba = decode_png(png)
    return int(((rgba[..., :3] == colour).all(axis=-1) & (rgba[..., 3] == 255)).sum())


async def test_style_buttons_change_the_next_sticker_and_are_kept(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    commands = emulator.calls_to("setMyCommands")[0].params["commands"]
    assert "style" in {c["command"] for c in commands}

    emulator.send_photo(USER, photo())
    default = await sticker_for(emulator, USER)
    assert _painted(default, 255) > 2000  # the white stroke ...
    assert _painted(default, 248) == 0  # ... and not the seed's band

    mark = len(emulator.calls)
    emulator.send_text(USER, "/style")
    prompt = await reply(emulator, USER, "Choose the sticker's outline", since=mark)
    assert "now: white" in prompt.params["text"]
    buttons = [b for row in prompt.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == [
        "white",
        "white with shadow",
        "classic (thin light edge)",
        "none",
    ]
    classic = next(b for b in buttons if b["text"].startswith("classic"))
    emulator.press_button(USER, prompt.result, classic["callback_data"])
    await emulator.wait_for("answerCallbackQuery", None, WAIT_S, since=mark)
    await emulator.wait_for("editMessageText", texted(USER, "outline classic"), WAIT_S, since=mark)

    mark = len(emulator.calls)
    emulator.send_photo(USER, photo())
    seed = await sticker_for(emulator, USER, since=mark)
    assert _painted(seed, 248) > 500  # the seed's light band inside the edge
    assert _painted(seed, 255) < _painted(default, 255) / 10

    mark = len(emulator.calls)
    emulator.send_text(USER, "/settings")
    settings = await reply(emulator, USER, "Your settings", since=mark)
    assert "Outline: classic" in settings.params["text"]
    emulator.send_text(USER, "/help")
    help_text = await reply(emulator, USER, "Send me a photo", since=mark)
    assert "/style" in help_text.params["text"]


async def test_style_by_word_and_bad_words(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    emulator.send_text(USER, "/style sparkly")
    await reply(emulator, USER, "Use /style and tap a button")
    mark = len(emulator.calls)
    emulator.send_text(USER, "/style none")
    await reply(emulator, USER, "OK: outline none", since=mark)
    mark = len(emulator.calls)
    emulator.send_photo(USER, photo())
    bare = decode_png(await sticker_for(emulator, USER, since=mark))
    assert bare[..., 3].any()
    assert ((bare[..., :3] >= 248).all(axis=-1) & (bare[..., 3] > 0)).sum() <= 50


def test_parse_style() -> None:
    assert parse_style(["White"]) == "stroke"
    assert parse_style(["classic"]) == "seed"
    assert parse_style(["shadow"]) == "shadow"
    assert parse_style(["a", "b"]) is None
    assert parse_style(["glitter"]) is None
    assert np.all([parse_style([w]) is not None for w in ("stroke", "seed", "none", "off")])


async def test_a_schema_2_journal_gains_styles(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE chat_settings (chat_id INTEGER PRIMARY KEY, target TEXT NOT NULL, "
            "crf INTEGER NOT NULL, updated_at REAL NOT NULL);"
            "INSERT INTO chat_settings VALUES (7, 'dog', 0, 0.0);"
            "PRAGMA user_version = 2;"
        )
    old.close()
    journal = await Journal.open(path)
    try:
        expected = ChatSettings(target="dog", crf=False, style="stroke")
        assert await journal.chat_settings(7) == expected
        await journal.save_chat_settings(7, ChatSettings(target="dog", crf=False, style="seed"))
        assert (await journal.chat_settings(7)).style == "seed"
    finally:
        await journal.close()
