"""What a user gets, end to end: the real bot (PTB Application, worker, journal, pipeline with
a stand-in model) talking to the Bot API emulator."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.bot.botkit import (
    ADMIN,
    USER,
    WAIT_S,
    photo,
    reply,
    sent,
    texted,
    texts_to,
    to,
    uploaded,
)
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == (512, 512)
        return np.asarray(image)


async def sticker_for(emu: BotApiEmulator, chat_id: int, since: int = 0) -> bytes:
    """Wait for the sticker-ready PNG document and the preview; the PNG's bytes."""
    document = await emu.wait_for("sendDocument", to(chat_id), WAIT_S, since=since)
    await emu.wait_for("sendSticker", to(chat_id), WAIT_S, since=since)
    return uploaded(document, "document")


async def test_photo_becomes_a_png_document_and_a_sticker(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_photo(USER, photo())

    queued = await reply(emulator, USER, "Queued, #1")
    png = await sticker_for(emulator, USER)
    edit = await emulator.wait_for("editMessageText", texted(USER, "Done"), WAIT_S)

    alpha = decode_png(png)[..., 3]
    assert (alpha == 255).any()
    assert (alpha == 0).any()
    document = emulator.calls_to("sendDocument")[0]
    assert document.params["reply_parameters"]["message_id"] == 1
    assert edit.params["message_id"] == queued.result["message_id"]
    assert "cat" in edit.params["text"]
    await emulator.wait_for("sendChatAction", to(USER), WAIT_S)
    assert emulator.calls.index(queued) < emulator.calls.index(document)
    # What the user sees: the "Queued" line turned into "Done", then the two files.
    assert texts_to(emulator, USER)[0].startswith("Done ✓ #1: cat")
    assert len(sent(emulator, "sendDocument", USER)) == 1
    assert len(sent(emulator, "sendSticker", USER)) == 1


async def test_an_image_sent_as_a_file_is_accepted(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    rgb = np.asarray(Image.open(io.BytesIO(photo())).convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    emulator.send_document(USER, buffer.getvalue(), file_name="cat.png", mime_type="image/png")

    png = await sticker_for(emulator, USER)
    assert (decode_png(png)[..., 3] > 0).any()


async def test_crf_off_changes_the_sticker_and_the_reply(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    picture = photo()
    emulator.send_photo(USER, picture)
    with_crf = await sticker_for(emulator, USER)
    assert "CRF on" in emulator.calls_to("sendDocument")[0].params["caption"]

    emulator.send_text(USER, "/crf off")
    await reply(emulator, USER, "(CRF) is off")
    mark = len(emulator.calls)
    emulator.send_photo(USER, picture)
    without_crf = await sticker_for(emulator, USER, since=mark)

    assert "CRF off" in emulator.calls_to("sendDocument")[1].params["caption"]
    await emulator.wait_for("editMessageText", texted(USER, "CRF off"), WAIT_S, since=mark)
    assert with_crf != without_crf
    assert not np.array_equal(decode_png(with_crf)[..., 3], decode_png(without_crf)[..., 3])


async def test_an_absent_class_offers_buttons_and_a_press_makes_that_sticker(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/class puppy")
    await reply(emulator, USER, "cut out dog")
    emulator.send_photo(USER, photo(cat=True))

    offer = await reply(emulator, USER, "couldn't find a dog")
    assert "cat" in offer.params["text"]
    buttons = [b for row in offer.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["cat"]
    assert not sent(emulator, "sendDocument", USER)

    mark = len(emulator.calls)
    emulator.press_button(USER, offer.result, buttons[0]["callback_data"])
    await emulator.wait_for("answerCallbackQuery", None, WAIT_S, since=mark)
    await sticker_for(emulator, USER, since=mark)
    done = await emulator.wait_for("editMessageText", texted(USER, "Done"), WAIT_S, since=mark)
    assert "cat" in done.params["text"]
    assert done.params["message_id"] == offer.result["message_id"]
    # The buttons are gone: the offer became the status of the new job.
    offer_now = [
        m for m in emulator.messages_to(USER) if m["message_id"] == done.params["message_id"]
    ]
    assert "reply_markup" not in offer_now[0]


async def test_stats_for_admins_only(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    bot = await start_bot()
    emulator.send_photo(USER, photo())
    await sticker_for(emulator, USER)
    await bot.worker.wait_idle()

    emulator.send_text(USER, "/stats")
    await reply(emulator, USER, "admins only")
    emulator.send_text(ADMIN, "/stats")
    report = (await reply(emulator, ADMIN, "Uptime")).params["text"]
    for expected in (
        "colour-standin (standin fp32, CPU)",
        "Queue 0 waiting",
        "sticker 1",
        "Distinct users 1",
        "Top classes: cat 1",
        "model:",
        "end_to_end:",
    ):
        assert expected in report


async def test_settings_survive_a_restart(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    first = await start_bot()
    emulator.send_text(USER, "/class person")
    await reply(emulator, USER, "cut out person")
    emulator.send_text(USER, "/crf off")
    await reply(emulator, USER, "is off")
    await first.stop()

    mark = len(emulator.calls)
    await start_bot()
    emulator.send_text(USER, "/settings")
    answer = await reply(emulator, USER, "Your settings", since=mark)
    assert "class person" in answer.params["text"]
    assert "(CRF) off" in answer.params["text"]


async def test_commands_are_registered_and_help_shows_settings(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    commands = emulator.calls_to("setMyCommands")[0].params["commands"]
    assert {c["command"] for c in commands} >= {"start", "help", "class", "crf", "stats"}
    emulator.send_text(USER, "/start")
    help_text = (await reply(emulator, USER, "Send me a photo")).params["text"]
    assert "largest object (auto)" in help_text
    mark = len(emulator.calls)
    emulator.send_text(USER, "/classes")
    listing = await reply(emulator, USER, "I can recognise", since=mark)
    assert "pottedplant (plant, potted plant, potted-plant)" in listing.params["text"]
    emulator.send_text(USER, "/class unicorn")
    await reply(emulator, USER, "I don't know “unicorn”.")
    emulator.send_text(USER, "/crf maybe")
    await reply(emulator, USER, "/crf on or /crf off")
