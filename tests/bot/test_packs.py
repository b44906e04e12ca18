"""Sticker packs: the "Add to my pack" button, /pack and /emoji, end to end against the
emulator (whose sticker-set methods follow Telegram's rules), plus the naming helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot import choices
from bot.app import JOURNAL_FILE, StickerBot
from bot.journal import Journal
from bot.packs import (
    CLASS_EMOJI,
    MAX_STATIC_STICKERS,
    Pack,
    class_emoji,
    is_valid_set_name,
    parse_emoji,
    set_name,
    set_title,
)
from segmentation.classes import VOC_CLASSES
from tests.bot.botkit import USER, WAIT_S, photo, reply, texted
from tests.bot.conftest import StartBot
from tests.bot.emulator import ApiCall, BotApiEmulator

BOT = "sticker_test_bot"
FIRST = f"pack_{USER}_by_{BOT}"
SECOND = f"pack_{USER}_2_by_{BOT}"
LINK = "https://t.me/addstickers/"
GROUP = -100777

JSON = dict[str, Any]


async def make_sticker(
    emu: BotApiEmulator, *, cat: bool = True, dog: bool = False, chat_id: int | None = None
) -> JSON:
    """The user sends a photo; the sticker message the bot answers with (job closed)."""
    chat = USER if chat_id is None else chat_id
    since = len(emu.calls)
    emu.send_photo(USER, photo(cat=cat, dog=dog), chat_id=chat_id)
    call = await emu.wait_for(
        "sendSticker", lambda c: c.ok and c.params["chat_id"] == chat, WAIT_S, since=since
    )
    await emu.wait_for("editMessageText", texted(chat, "Done ✓"), WAIT_S, since=since)
    message: JSON = call.result
    return message


def button(message: JSON) -> str:
    """The callback data of the sticker's one button, checking it is "Add to my pack"."""
    [[only]] = message["reply_markup"]["inline_keyboard"]
    assert only["text"] == "Add to my pack"
    data: str = only["callback_data"]
    return data


async def press(emu: BotApiEmulator, message: JSON, *, user: int = USER) -> str:
    """Press "Add to my pack" under ``message``; the text of the bot's reply to it."""
    since = len(emu.calls)
    emu.press_button(user, message, button(message))

    def answers(call: ApiCall) -> bool:
        replied = call.params.get("reply_parameters") or {}
        return call.ok and replied.get("message_id") == message["message_id"]

    answer = await emu.wait_for("sendMessage", answers, WAIT_S, since=since)
    return str(answer.params["text"])


async def command(emu: BotApiEmulator, text: str, fragment: str) -> str:
    since = len(emu.calls)
    emu.send_text(USER, text)
    return str((await reply(emu, USER, fragment, since)).params["text"])


def stickers_in(emu: BotApiEmulator, name: str) -> list[JSON]:
    found = emu.sticker_set(name)
    assert found is not None, f"no sticker set {name}"
    stickers: list[JSON] = found["stickers"]
    return stickers


def ok_calls(emu: BotApiEmulator, method: str) -> list[ApiCall]:
    return [call for call in emu.calls_to(method) if call.ok]


async def seed_full_pack(emu: BotApiEmulator, bot: StickerBot, *, known: int) -> None:
    """USER's first pack: 120 stickers on Telegram, ``known`` of them in the bot's records."""
    emu.seed_sticker_set(FIRST, USER, MAX_STATIC_STICKERS, title="Ann's stickers")
    await bot.journal.call(bot.journal.packs.save, Pack(USER, 1, FIRST, "Ann's stickers", known))


# --- the button -----------------------------------------------------------------------------


async def test_first_press_creates_the_pack_with_name_title_and_class_emoji(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    message = await make_sticker(emulator)
    assert button(message) == choices.encode_pack(1) == "pack:1"

    text = await press(emulator, message)

    assert f"{LINK}{FIRST}" in text
    found = emulator.sticker_set(FIRST)
    assert found is not None
    assert found["title"] == "Ann's stickers"
    assert found["owner"] == USER
    assert [(s["emoji"], s["set_name"], s["width"]) for s in found["stickers"]] == [
        ("🐱", FIRST, 512)
    ]
    # Added by the file_id of the sticker the bot sent: no bytes uploaded again.
    [create] = ok_calls(emulator, "createNewStickerSet")
    assert create.params["stickers"][0]["sticker"] == message["sticker"]["file_id"]
    assert create.params["stickers"][0]["format"] == "static"
    assert not create.files
    assert not emulator.calls_to("uploadStickerFile")


async def test_the_second_press_adds_and_a_double_press_adds_nothing(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    cat = await make_sticker(emulator)
    dog = await make_sticker(emulator, cat=False, dog=True)

    assert FIRST in await press(emulator, cat)
    added = await press(emulator, dog)
    again = await press(emulator, cat)

    assert added.startswith("Added to your pack (2 stickers)")
    assert f"{LINK}{FIRST}" in added
    assert again.startswith("This sticker is already in your pack")
    assert [s["emoji"] for s in stickers_in(emulator, FIRST)] == ["🐱", "🐶"]
    assert len(ok_calls(emulator, "createNewStickerSet")) == 1
    assert len(ok_calls(emulator, "addStickerToSet")) == 1


async def test_the_121st_sticker_starts_the_next_pack_and_says_so(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    emulator.send_text(USER, "/start")
    await seed_full_pack(emulator, bot, known=MAX_STATIC_STICKERS)
    message = await make_sticker(emulator)

    text = await press(emulator, message)

    assert "is full (120 stickers)" in text
    assert f"{LINK}{FIRST}" in text
    assert f"{LINK}{SECOND}" in text
    assert not emulator.calls_to("addStickerToSet")  # the bot knew the pack was full
    second = emulator.sticker_set(SECOND)
    assert second is not None
    assert second["title"] == "Ann's stickers 2"
    assert len(second["stickers"]) == 1
    assert len(stickers_in(emulator, FIRST)) == MAX_STATIC_STICKERS
    listing = await command(emulator, "/pack", "Your sticker packs")
    assert f"{LINK}{FIRST} (120 stickers)" in listing
    assert f"{LINK}{SECOND} (1 sticker)" in listing


async def test_a_pack_filled_outside_the_bot_also_starts_the_next_one(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    emulator.send_text(USER, "/start")
    # The bot added 119; the user added one more with @Stickers.
    await seed_full_pack(emulator, bot, known=MAX_STATIC_STICKERS - 1)
    message = await make_sticker(emulator)

    text = await press(emulator, message)

    [refused] = emulator.calls_to("addStickerToSet")
    assert "STICKERS_TOO_MUCH" in str(refused.description)
    assert "is full" in text
    assert SECOND in text
    assert len(stickers_in(emulator, SECOND)) == 1


async def test_a_taken_name_is_skipped_for_the_next_number(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    # A set of this name exists that the bot does not know (its database was lost, say).
    emulator.seed_sticker_set(FIRST, USER, 3)
    message = await make_sticker(emulator)

    text = await press(emulator, message)

    first_try, second_try = emulator.calls_to("createNewStickerSet")
    assert "already occupied" in str(first_try.description)
    assert second_try.ok
    assert text.startswith("I made you a sticker pack")
    assert f"{LINK}{SECOND}" in text
    assert len(stickers_in(emulator, FIRST)) == 3
    assert len(stickers_in(emulator, SECOND)) == 1


async def test_a_user_who_has_not_started_the_bot_is_told_how(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    message = await make_sticker(emulator, chat_id=GROUP)  # USER only ever wrote in a group

    text = await press(emulator, message)

    [refused] = emulator.calls_to("createNewStickerSet")
    assert "PEER_ID_INVALID" in str(refused.description)
    assert f"https://t.me/{BOT}" in text
    assert "press Start" in text
    assert emulator.sticker_set(FIRST) is None

    emulator.send_text(USER, "/start")  # now in private
    assert FIRST in await press(emulator, message)
    assert len(stickers_in(emulator, FIRST)) == 1


async def test_flood_control_asks_to_try_again_later(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    message = await make_sticker(emulator)
    # The rate limiter sits out one 429 (1 s); the second reaches the user.
    emulator.fail("createNewStickerSet", retry_after=1, times=2)

    text = await press(emulator, message)

    assert "slow down" in text
    assert "again in 1 second" in text
    assert emulator.sticker_set(FIRST) is None
    assert FIRST in await press(emulator, message)


async def test_a_refused_file_id_is_replaced_by_an_upload_of_the_png(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    message = await make_sticker(emulator)
    emulator.fail(
        "createNewStickerSet",
        error_code=400,
        description="Bad Request: wrong file identifier/HTTP URL specified",
    )

    assert FIRST in await press(emulator, message)

    [upload] = ok_calls(emulator, "uploadStickerFile")
    assert upload.params["user_id"] == USER
    assert upload.params["sticker_format"] == "static"
    retried = ok_calls(emulator, "createNewStickerSet")[-1]
    assert retried.params["stickers"][0]["sticker"] == upload.result["file_id"]
    assert len(stickers_in(emulator, FIRST)) == 1


def forget_job_1(db: sqlite3.Connection) -> None:
    with db:
        assert db.execute("DELETE FROM jobs WHERE id = 1").rowcount == 1


async def test_the_button_of_a_forgotten_job_explains(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    emulator.send_text(USER, "/start")
    message = await make_sticker(emulator)
    await bot.journal.call(
        forget_job_1, bot.journal.database.connection
    )  # as pruning does past the retention
    assert "no longer available" in await press(emulator, message)
    assert not emulator.calls_to("createNewStickerSet")


async def test_a_pack_its_owner_deleted_is_followed_by_a_new_one(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/start")
    cat = await make_sticker(emulator)
    assert FIRST in await press(emulator, cat)
    emulator.owner_deletes_sticker_set(FIRST)
    dog = await make_sticker(emulator, cat=False, dog=True)

    text = await press(emulator, dog)

    [refused] = emulator.calls_to("addStickerToSet")
    assert "STICKERSET_INVALID" in str(refused.description)
    assert text.startswith("I made you a sticker pack")
    assert SECOND in text  # a deleted set's name is not reused
    assert listing_links(await command(emulator, "/pack", "sticker pack")) == [SECOND]


def listing_links(text: str) -> list[str]:
    return [word.removeprefix(LINK) for word in text.split() if word.startswith(LINK)]


# --- /pack, /emoji, restarts ----------------------------------------------------------------


async def test_pack_and_emoji_commands(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    assert "no sticker pack yet" in await command(emulator, "/pack", "sticker pack")
    assert "cat 🐱" in await command(emulator, "/emoji", "emoji")
    assert "isn't an emoji" in await command(emulator, "/emoji cat", "emoji")
    assert "isn't an emoji" in await command(emulator, "/emoji 😺😺", "emoji")
    assert "get 😺" in await command(emulator, "/emoji 😺", "OK")
    assert "get 😺" in await command(emulator, "/emoji", "emoji")

    cat = await make_sticker(emulator)
    await press(emulator, cat)
    listing = await command(emulator, "/pack", "sticker pack")
    assert listing == f"Your sticker pack (1 sticker): {LINK}{FIRST}"

    assert "their object again" in await command(emulator, "/emoji auto", "OK")
    dog = await make_sticker(emulator, cat=False, dog=True)
    await press(emulator, dog)
    assert [s["emoji"] for s in stickers_in(emulator, FIRST)] == ["😺", "🐶"]
    commands = [c["command"] for c in emulator.bot_commands()]
    assert {"pack", "emoji"} <= set(commands)


async def test_packs_and_the_emoji_survive_a_restart(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    first = await start_bot()
    emulator.send_text(USER, "/start")
    await command(emulator, "/emoji 🦄", "OK")
    cat = await make_sticker(emulator)
    await press(emulator, cat)
    await first.stop()

    await start_bot()
    assert f"(1 sticker): {LINK}{FIRST}" in await command(emulator, "/pack", "sticker pack")
    dog = await make_sticker(emulator, cat=False, dog=True)
    assert (await press(emulator, dog)).startswith("Added to your pack (2 stickers)")
    assert "already in your pack" in await press(emulator, cat)
    assert [s["emoji"] for s in stickers_in(emulator, FIRST)] == ["🦄", "🦄"]
    assert len(ok_calls(emulator, "createNewStickerSet")) == 1


async def test_a_schema_1_journal_gains_file_ids_and_pack_tables(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE sent (job_id INTEGER NOT NULL, part TEXT NOT NULL, "
            "message_id INTEGER, PRIMARY KEY (job_id, part));"
            "INSERT INTO sent VALUES (1, 'document', 5);"
            "PRAGMA user_version = 1;"
        )
    old.close()
    journal = await Journal.open(path)
    try:
        assert await journal.sent_files(1) == {}
        await journal.record_sent(1, "sticker", 6, "CAAC-file")
        assert await journal.sent_files(1) == {"sticker": "CAAC-file"}
        assert await journal.call(journal.packs.packs, USER) == []
    finally:
        await journal.close()


# --- names, titles, emoji -------------------------------------------------------------------


def test_pack_callback_data() -> None:
    assert choices.encode_pack(123456789012345678) == "pack:123456789012345678"
    assert choices.decode_pack("pack:123456789012345678") == 123456789012345678
    assert choices.decode_pack("pack:x") is None
    assert choices.decode_pack("pick:1:8") is None
    assert choices.decode_pack(None) is None
    assert choices.decode("pack:1") is None  # the class buttons' handler ignores it


def test_set_names_follow_telegrams_rules() -> None:
    assert set_name(42, 1, BOT) == f"pack_42_by_{BOT}"
    assert set_name(42, 2, BOT) == f"pack_42_2_by_{BOT}"
    # The longest user ids (16 digits) and bot usernames (32 letters) leave room for 6-digit
    # pack numbers.
    longest_bot = "b" * 29 + "bot"
    longest = set_name(9_999_999_999_999_999, 999_999, longest_bot)
    assert len(longest) == 64
    assert is_valid_set_name(longest, longest_bot)
    with pytest.raises(ValueError, match="no valid sticker set name"):
        set_name(9_999_999_999_999_999, 1_000_000, longest_bot)
    assert not is_valid_set_name(f"pack__42_by_{BOT}", BOT)
    assert not is_valid_set_name(f"9pack_by_{BOT}", BOT)
    assert not is_valid_set_name("pack_42_by_other_bot", BOT)


def test_titles_fit_in_64_characters() -> None:
    assert set_title("Ann", 1) == "Ann's stickers"
    assert set_title("Ann", 3) == "Ann's stickers 3"
    assert set_title("  ", 1) == "My stickers"
    assert set_title("  ", 2) == "My stickers 2"
    long = set_title("A" * 100, 12)
    assert len(long) == 64
    assert long.endswith("'s stickers 12")


def test_titles_speak_the_users_language() -> None:
    from bot import i18n

    with i18n.use("ru"):
        assert set_title("Аня", 1) == "Стикеры: Аня"
        assert set_title("Аня", 2) == "Стикеры: Аня 2"
        assert set_title("", 1) == "Мои стикеры"
        long = set_title("Я" * 100, 12)
    assert len(long) == 64
    assert long.endswith(" 12")


def test_every_class_has_an_emoji() -> None:
    assert set(CLASS_EMOJI) == set(VOC_CLASSES[1:])
    assert all(parse_emoji(emoji) == emoji for emoji in CLASS_EMOJI.values())
    assert (class_emoji("cat"), class_emoji("dog"), class_emoji("person")) == ("🐱", "🐶", "🙂")
    assert class_emoji(None) == "⭐"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("😺", True),
        (" 😺 ", True),
        ("❤️", True),
        ("👍🏽", True),
        ("🇺🇦", True),
        ("👨‍👩‍👧", True),
        ("1️⃣", True),
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", True),
        ("", False),
        ("cat", False),
        ("😺😺", False),
        ("😺 cat", False),
        ("🇺", False),
        ("é", False),
        ("1", False),
    ],
)
def test_parse_emoji(text: str, ok: bool) -> None:
    assert (parse_emoji(text) is not None) is ok


async def test_a_press_before_the_job_is_closed_still_knows_the_class(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    # The "Done" edit keeps failing for a while, so the job is still open when the user
    # presses the button under the sticker that has already arrived.
    await start_bot()
    emulator.send_text(USER, "/start")
    emulator.fail("editMessageText", error_code=500, times=2)
    since = len(emulator.calls)
    emulator.send_photo(USER, photo(cat=True, dog=False))
    call = await emulator.wait_for("sendSticker", lambda c: c.ok, WAIT_S, since=since)

    text = await press(emulator, call.result)

    assert f"{LINK}{FIRST}" in text
    found = emulator.sticker_set(FIRST)
    assert found is not None
    assert [s["emoji"] for s in found["stickers"]] == ["🐱"]
