"""The Bot API emulator, exercised through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import aiohttp
import pytest
import telegram
from aiohttp import web
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, InputSticker
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.bot.emulator import BotApiEmulator

USER = 42
T = TypeVar("T")


def image_bytes(width: int, height: int, fmt: str, color: tuple[int, ...] = (200, 30, 90)) -> bytes:
    """An encoded solid-colour image."""
    mode = "RGBA" if fmt in ("WEBP", "PNG") else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def present(value: T | None) -> T:
    """``value``, asserting that the optional field is there."""
    assert value is not None
    return value


@asynccontextmanager
async def ptb_bot(emu: BotApiEmulator, token: str | None = None) -> AsyncIterator[telegram.Bot]:
    """A real, initialised ``telegram.Bot`` pointed at the emulator."""
    bot = telegram.Bot(
        token or emu.token, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot"
    )
    async with bot:
        yield bot


async def test_get_me_describes_the_bot(emulator: BotApiEmulator) -> None:
    async with ptb_bot(emulator) as bot:
        me = await bot.get_me()
    assert me.is_bot
    assert me.username == "sticker_test_bot"
    assert me.id == int(emulator.token.split(":")[0])
    assert emulator.calls_to("getme")[0].ok


async def test_send_message_with_inline_keyboard_reaches_the_user(
    emulator: BotApiEmulator,
) -> None:
    emulator.send_text(USER, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Make sticker", callback_data="go")]])
    async with ptb_bot(emulator) as bot:
        sent = await bot.send_message(
            USER, "<b>Ready</b> to go", parse_mode="HTML", reply_markup=keyboard
        )
    assert sent.message_id == 2  # the user's "hi" was message 1 in this private chat
    assert sent.text == "Ready to go"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 5)]
    assert sent.reply_markup == keyboard
    call = emulator.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == USER  # decoded from the form field "42"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Make sticker", "callback_data": "go"}]]
    }
    [seen] = emulator.messages_to(USER)
    assert seen["text"] == "Ready to go"
    assert seen["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go"


async def test_replies_quote_the_message_they_answer(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "my photo please")
    async with ptb_bot(emulator) as bot:
        legacy = await bot.send_message(USER, "one", reply_to_message_id=1)
        modern = await bot.send_message(
            USER, "two", reply_parameters=telegram.ReplyParameters(message_id=legacy.message_id)
        )
        with pytest.raises(BadRequest, match="Message to be replied not found"):
            await bot.send_message(USER, "three", reply_to_message_id=99)
    assert present(legacy.reply_to_message).text == "my photo please"
    assert present(modern.reply_to_message).text == "one"


async def test_edit_message_text_is_applied_and_noop_edits_are_refused(
    emulator: BotApiEmulator,
) -> None:
    emulator.send_text(USER, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    async with ptb_bot(emulator) as bot:
        sent = await bot.send_message(USER, "Working…", reply_markup=keyboard)
        edited = await bot.edit_message_text("Done!", chat_id=USER, message_id=sent.message_id)
        assert isinstance(edited, telegram.Message)
        assert edited.text == "Done!"
        assert edited.edit_date is not None
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Done!", chat_id=USER, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=999)
        inline_id = emulator.add_inline_message("Old", reply_markup=keyboard.to_dict())
        assert await bot.edit_message_text("New", inline_message_id=inline_id) is True
        await bot.delete_message(USER, sent.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(USER, sent.message_id)
    # Editing text without reply_markup removed the keyboard, as on Telegram.
    assert emulator.messages_to(USER) == []
    [gone] = emulator.messages_to(USER, include_deleted=True)
    assert gone["text"] == "Done!"
    assert "reply_markup" not in gone


async def test_send_document_upload_round_trips_through_get_file(
    emulator: BotApiEmulator,
) -> None:
    emulator.send_text(USER, "hi")
    payload = bytes(range(256)) * 40
    async with ptb_bot(emulator) as bot:
        sent = await bot.send_document(USER, payload, filename="mask.bin", caption="your mask")
        document = sent.document
        assert document is not None
        assert document.file_name == "mask.bin"
        assert document.file_size == len(payload)
        assert document.mime_type == "application/octet-stream"
        assert sent.caption == "your mask"
        file = await bot.get_file(document.file_id)
        assert file.file_size == len(payload)
        assert bytes(await file.download_as_bytearray()) == payload
    call = emulator.calls_to("sendDocument")[0]
    assert call.files["document"].filename == "mask.bin"
    assert call.files["document"].data == payload
    assert emulator.file_bytes(document.file_id) == payload
    assert emulator.calls_to("download")[0].ok


async def test_send_sticker_reads_real_dimensions(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    webp = image_bytes(512, 512, "WEBP")
    png = image_bytes(512, 300, "PNG")
    async with ptb_bot(emulator) as bot:
        square = present((await bot.send_sticker(USER, webp)).sticker)
        wide = present((await bot.send_sticker(USER, png, emoji="🐱")).sticker)
        again = present((await bot.send_sticker(USER, square.file_id)).sticker)
        with pytest.raises(BadRequest, match="Image_process_failed"):
            await bot.send_sticker(USER, b"not an image")
    assert (square.width, square.height, square.is_animated, square.is_video) == (
        512,
        512,
        False,
        False,
    )
    assert emulator.file_bytes(square.file_id) == webp
    assert (wide.width, wide.height, wide.emoji) == (512, 300, "🐱")
    with Image.open(io.BytesIO(emulator.file_bytes(wide.file_id))) as stored:
        assert stored.format == "WEBP"  # PNG is converted server-side
    assert again.file_unique_id == square.file_unique_id


async def test_get_updates_long_poll_returns_as_soon_as_the_user_writes(
    emulator: BotApiEmulator,
) -> None:
    async with ptb_bot(emulator) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await emulator.wait_for_polling()
        emulator.send_text(USER, "/start", first_name="Bea")
        # Far below the 30 s poll timeout: the poll must answer on the update itself.
        [update] = await asyncio.wait_for(poll, timeout=5)
        message = present(update.message)
        assert message.text == "/start"
        assert message.chat.id == present(message.from_user).id == USER
        assert present(message.from_user).first_name == "Bea"
        [command] = message.entities
        assert (command.type, command.offset, command.length) == ("bot_command", 0, 6)
        # Without an offset the update is delivered again; offset confirms it.
        assert [u.update_id for u in await bot.get_updates()] == [update.update_id]
        assert await bot.get_updates(offset=update.update_id + 1) == ()
    assert emulator.pending_updates == []


async def test_second_get_updates_terminates_the_first_with_conflict(
    emulator: BotApiEmulator,
) -> None:
    async with ptb_bot(emulator) as first, ptb_bot(emulator) as second:
        pending = asyncio.create_task(first.get_updates(timeout=30))
        await emulator.wait_for_polling()
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(pending, timeout=5)


async def test_api_errors_surface_as_ptb_exceptions(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    async with ptb_bot(emulator) as bot:
        with pytest.raises(BadRequest, match=r"^Chat not found$"):
            await bot.send_message(777, "hello?")
        with pytest.raises(BadRequest, match=r"^Message text is empty$"):
            await bot.send_message(USER, "   ")
        with pytest.raises(BadRequest, match=r"Can't parse entities: character '.' is reserved"):
            await bot.send_message(USER, "Done.", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match='unsupported start tag "br" at byte offset 1'):
            await bot.send_message(USER, "a<br>b", parse_mode="HTML")
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(USER, "hi", reply_markup=too_long)
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")
        emulator.block_bot(USER)
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(USER, "still there?")
    wrong_token = "987654321:AAWrongTokenWrongTokenWrongToken00000"
    with pytest.raises(InvalidToken):
        async with ptb_bot(emulator, token=wrong_token):
            pass
    assert emulator.calls[-1].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


async def test_injected_429_surfaces_as_retry_after(
    emulator: BotApiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns (an error under filterwarnings=error) when RetryAfter is built without
    # PTB_TIMEDELTA: it reads ``retry_after`` as an int in its own constructor.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    emulator.send_text(USER, "hi")
    emulator.fail("sendMessage", retry_after=7)
    emulator.fail("sendMessage", migrate_to_chat_id=-1001234)
    async with ptb_bot(emulator) as bot:
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(USER, "one")
        assert flood.value.retry_after == dtm.timedelta(seconds=7)
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(USER, "two")
        assert migrated.value.new_chat_id == -1001234
        await bot.send_message(USER, "three")  # the faults were used up
    assert [c.status for c in emulator.calls_to("sendMessage")] == [429, 400, 200]
    assert emulator.calls_to("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert [m["text"] for m in emulator.messages_to(USER)] == ["three"]


async def test_dropped_connection_surfaces_as_network_error(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    file_id = emulator.add_file(b"payload", file_name="a.bin")
    emulator.fail("sendMessage", drop_connection=True)
    emulator.fail("download", drop_connection=True)
    emulator.fail("getFile", error_code=502, description="Bad Gateway")
    async with ptb_bot(emulator) as bot:
        with pytest.raises(NetworkError, match=r"Server disconnected|RemoteProtocolError"):
            await bot.send_message(USER, "lost")
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.get_file(file_id)
        file = await bot.get_file(file_id)
        with pytest.raises(NetworkError):
            await file.download_as_bytearray()
        assert bytes(await file.download_as_bytearray()) == b"payload"
    assert emulator.calls_to("sendMessage")[0].status == 0
    assert emulator.messages_to(USER) == []


async def test_oversized_document_is_refused_by_get_file(emulator: BotApiEmulator) -> None:
    update = emulator.send_document(
        USER,
        b"%PDF-1.4 tiny",
        file_name="big.pdf",
        mime_type="application/pdf",
        declared_file_size=30 * 1024 * 1024,
    )
    document = update["message"]["document"]
    assert document["file_size"] == 30 * 1024 * 1024
    async with ptb_bot(emulator) as bot:
        [received] = await bot.get_updates()
        assert present(present(received.message).document).file_size == 30 * 1024 * 1024
        with pytest.raises(BadRequest, match=r"^File is too big$"):
            await bot.get_file(document["file_id"])


async def test_user_photo_has_several_downloadable_sizes(emulator: BotApiEmulator) -> None:
    jpeg = image_bytes(640, 480, "JPEG")
    emulator.send_photo(USER, jpeg, caption="/sticker")
    async with ptb_bot(emulator) as bot:
        [update] = await bot.get_updates()
        message = present(update.message)
        assert message.caption == "/sticker"
        assert message.caption_entities[0].type == "bot_command"
        sizes = message.photo
        assert [(p.width, p.height) for p in sizes] == [(90, 68), (320, 240), (640, 480)]
        for size in sizes:
            file = await bot.get_file(size.file_id)
            data = bytes(await file.download_as_bytearray())
            assert len(data) == size.file_size
            with Image.open(io.BytesIO(data)) as image:
                assert image.size == (size.width, size.height)
        assert emulator.file_bytes(sizes[-1].file_id) == jpeg
        # The bot's own photos get the same treatment (thumbnails, then the original).
        sent = await bot.send_photo(USER, image_bytes(1000, 500, "PNG"), caption="<i>x</i>")
        assert [(p.width, p.height) for p in sent.photo] == [
            (90, 45),
            (320, 160),
            (800, 400),
            (1000, 500),
        ]
        assert sent.caption == "<i>x</i>"  # no parse_mode: the markup is literal text


async def test_button_press_and_callback_answer(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    async with ptb_bot(emulator) as bot:
        sent = await bot.send_message(USER, "Sure?", reply_markup=keyboard)
        with pytest.raises(ValueError, match="no button 'no'"):
            emulator.press_button(USER, sent.to_dict(), "no")
        emulator.press_button(USER, sent.to_dict(), "yes")
        *_, update = await bot.get_updates()
        query = present(update.callback_query)
        assert query.data == "yes"
        assert present(query.message).message_id == sent.message_id
        assert await bot.answer_callback_query(query.id, text="On it")
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query.id)
        cleared = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None)
        assert isinstance(cleared, telegram.Message)
        assert cleared.reply_markup is None
        with pytest.raises(ValueError, match="no button 'yes'"):
            emulator.press_button(USER, sent.to_dict(), "yes")  # the keyboard is gone
    assert emulator.callback_answer(query.id) == {"show_alert": False, "text": "On it"}


async def test_attach_references_in_media_and_input_sticker(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    first, second = image_bytes(100, 80, "JPEG"), image_bytes(80, 100, "JPEG", (0, 0, 255))
    sticker_png = image_bytes(512, 512, "PNG")
    async with ptb_bot(emulator) as bot:
        album = await bot.send_media_group(
            USER, [InputMediaPhoto(first, caption="a"), InputMediaPhoto(second)]
        )
        assert [m.photo[-1].width for m in album] == [100, 80]
        assert album[0].media_group_id == album[1].media_group_id is not None
        name = "cats_by_sticker_test_bot"
        assert await bot.create_new_sticker_set(
            USER, name, "Cats", [InputSticker(sticker_png, ["🐱"], format="static")]
        )
        sticker_set = await bot.get_sticker_set(name)
    call = emulator.calls_to("sendMediaGroup")[0]
    references = [item["media"] for item in call.params["media"]]
    assert all(ref.startswith("attach://") for ref in references)
    uploads = [call.files[ref.removeprefix("attach://")].data for ref in references]
    assert uploads == [first, second]
    assert [(s.width, s.emoji, s.set_name) for s in sticker_set.stickers] == [(512, "🐱", name)]


async def test_bot_settings_chat_info_and_chat_actions(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi", first_name="Dora")
    commands = [("start", "Begin"), ("help", "How it works")]
    async with ptb_bot(emulator) as bot:
        assert await bot.set_my_commands(commands)
        assert [(c.command, c.description) for c in await bot.get_my_commands()] == commands
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([("Start", "capital letters are refused")])
        assert await bot.set_my_commands([("start", "Начать")], language_code="ru")
        assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
        with pytest.raises(BadRequest, match="Invalid language code specified"):
            await bot.set_my_commands(commands, language_code="pt-br")
        assert await bot.set_my_description("Turns photos into stickers")
        assert (await bot.get_my_description()).description == "Turns photos into stickers"
        chat = await bot.get_chat(USER)
        assert (chat.id, chat.type, chat.first_name) == (USER, "private", "Dora")
        assert await bot.send_chat_action(USER, "choose_sticker")
        with pytest.raises(BadRequest, match="Wrong parameter action in request"):
            await bot.send_chat_action(USER, "dancing")
    assert emulator.bot_commands() == [
        {"command": "start", "description": "Begin"},
        {"command": "help", "description": "How it works"},
    ]


async def test_raw_http_layout(emulator: BotApiEmulator) -> None:
    emulator.send_text(USER, "hi")
    base = f"{emulator.url}/bot{emulator.token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/GETME") as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["username"] == "sticker_test_bot"
        async with http.post(f"{base}/sendMessage", json={"chat_id": USER, "text": "7"}) as resp:
            assert (await resp.json())["result"]["text"] == "7"
        async with http.get(f"{base}/sendMessage?chat_id={USER}&text=q") as resp:
            assert (await resp.json())["result"]["text"] == "q"
        async with http.post(f"{base}/nope") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{emulator.url}/file/bot{emulator.token}/documents/x") as resp:
            assert resp.status == 404


async def test_webhook_posts_updates_with_the_secret_and_blocks_get_updates(
    emulator: BotApiEmulator,
) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []
    answers = iter([500])  # the first delivery fails and must be retried

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=next(answers, 200))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ptb_bot(emulator) as bot:
            url = f"http://127.0.0.1:{port}/hook"
            assert await bot.set_webhook(url, secret_token="s3cret-token")
            update = emulator.send_text(USER, "/start")
            await emulator.deliver_pending_webhooks()
            with pytest.raises(Conflict, match="can't use getUpdates method while webhook"):
                await bot.get_updates()
            info = await bot.get_webhook_info()
            assert info.url == url
            assert info.pending_update_count == 0
            assert (
                info.last_error_message
                == "Wrong response from the webhook: 500 Internal Server Error"
            )
            assert await bot.delete_webhook()
            assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()
    assert [secret for secret, _ in received] == ["s3cret-token", "s3cret-token"]
    assert received[-1][1] == json.loads(json.dumps(update))
    assert [d.status for d in emulator.webhook_deliveries] == [500, 200]


async def test_application_polling_answers_start(emulator: BotApiEmulator) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = present(update.effective_user)
        await present(update.effective_message).reply_text(f"Hello, {user.first_name}!")

    app = (
        ApplicationBuilder()
        .token(emulator.token)
        .base_url(f"{emulator.url}/bot")
        .base_file_url(f"{emulator.url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        emulator.send_text(USER, "/start", first_name="Cleo")
        reply = await emulator.wait_for("sendMessage", lambda c: c.params["chat_id"] == USER)
        await app.updater.stop()
        await app.stop()
    assert reply.ok
    assert [m["text"] for m in emulator.messages_to(USER)] == ["Hello, Cleo!"]
    assert emulator.pending_updates == []  # polling confirmed the update on shutdown
