"""Everything that is not a usable photo gets a short explanation; back-pressure is spoken."""

from __future__ import annotations

import pytest

from bot.config import TELEGRAM_DOWNLOAD_LIMIT
from tests.bot.botkit import (
    OTHER_USER,
    USER,
    WAIT_S,
    FailingSegmenter,
    GatedSegmenter,
    crashing_segmenter,
    photo,
    reply,
    sent,
    texted,
    to,
)
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator


def no_download(emu: BotApiEmulator) -> bool:
    return not emu.calls_to("getFile") and not emu.calls_to("download")


async def test_a_file_that_is_no_image(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    emulator.send_document(
        USER, b"just some notes\n", file_name="notes.txt", mime_type="text/plain"
    )
    await reply(emulator, USER, "isn't an image I can use")
    mark = len(emulator.calls)
    emulator.send_document(USER, b"<html></html>", file_name="page.html", mime_type="text/html")
    await reply(emulator, USER, "isn't an image I can use", since=mark)
    assert no_download(emulator)


async def test_a_video_and_plain_text(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    emulator.send_video(USER, b"\x00\x00\x00\x18ftypmp42")
    await reply(emulator, USER, "photos only")
    emulator.send_text(USER, "hello there")
    await reply(emulator, USER, "Send me a photo and I'll make a sticker")
    emulator.send_text(USER, "/frobnicate")
    await reply(emulator, USER, "don't know that command")
    assert no_download(emulator)


@pytest.mark.parametrize(
    ("declared", "limit", "told"),
    [
        # Above Telegram's 20 MB bot download limit.
        (TELEGRAM_DOWNLOAD_LIMIT + 300_000, None, "That file is 20 MB; I can take images up to 20"),
        # Above MAX_IMAGE_BYTES.
        (600_000, 500_000, "That file is 0.6 MB; I can take images up to 0.5 MB"),
    ],
)
async def test_an_oversized_image_is_refused_before_downloading(
    emulator: BotApiEmulator, start_bot: StartBot, declared: int, limit: int | None, told: str
) -> None:
    await start_bot(**({} if limit is None else {"MAX_IMAGE_BYTES": limit}))
    emulator.send_document(
        USER, photo(), file_name="big.jpg", mime_type="image/jpeg", declared_file_size=declared
    )
    await reply(emulator, USER, told)
    assert no_download(emulator)


async def test_a_broken_image_gets_an_explanation(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_document(
        USER, b"\xff\xd8\xff\xe0 not really", file_name="x.jpg", mime_type="image/jpeg"
    )
    await reply(emulator, USER, "couldn't read that image")
    await emulator.wait_for("editMessageText", texted(USER, "no sticker"), WAIT_S)
    # ... and the bot keeps working.
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)


async def test_a_model_failure_is_told_and_the_next_photo_works(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot(segmenter=FailingSegmenter())
    emulator.send_photo(USER, photo(cat=False, dog=True))
    await reply(emulator, USER, "Something went wrong with this photo")
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)


async def test_a_model_crashing_its_process_is_told_and_restarted(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot(factory=crashing_segmenter, ISOLATE_MODEL=True)
    emulator.send_photo(USER, photo(cat=False, dog=True))
    await reply(emulator, USER, "Something went wrong with this photo")
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert bot.engine.ready


async def test_queue_full_means_busy(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    model = GatedSegmenter()
    bot = await start_bot(segmenter=model, QUEUE_MAX=1)
    emulator.send_photo(USER, photo())
    await reply(emulator, USER, "Queued, #1")
    emulator.send_photo(OTHER_USER, photo())

    await reply(emulator, OTHER_USER, "I'm busy right now")
    model.gate.set()
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert not sent(emulator, "sendDocument", OTHER_USER)
    # Room again once the first job is answered.
    await bot.worker.wait_idle()
    emulator.send_photo(OTHER_USER, photo())
    await emulator.wait_for("sendDocument", to(OTHER_USER), WAIT_S)


async def test_a_user_over_the_pending_limit_is_told(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    model = GatedSegmenter()
    await start_bot(segmenter=model, MAX_PENDING_PER_USER=2)
    for _ in range(3):
        emulator.send_photo(USER, photo())
    await reply(emulator, USER, "You already have 2 photos waiting")
    emulator.send_photo(OTHER_USER, photo())
    await reply(emulator, OTHER_USER, "Queued, #3")

    model.gate.set()
    for user, count in ((USER, 2), (OTHER_USER, 1)):
        for _ in range(count):
            await emulator.wait_for("sendDocument", to(user), WAIT_S)
    await emulator.wait_for("editMessageText", texted(OTHER_USER, "Done ✓ #3"), WAIT_S)
    assert len(sent(emulator, "sendDocument", USER)) == 2


async def test_in_a_group_only_photos_and_commands_get_answers(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    group = -1001
    emulator.send_text(USER, "lunch anyone?", chat_id=group)
    emulator.send_document(
        USER, b"%PDF-1.4", file_name="a.pdf", mime_type="application/pdf", chat_id=group
    )
    emulator.send_photo(USER, photo(), chat_id=group)
    await emulator.wait_for("sendDocument", to(group), WAIT_S)
    await bot.worker.wait_idle()
    emulator.send_text(USER, "/settings", chat_id=group)
    await reply(emulator, group, "Your settings")
    texts = [call.params["text"] for call in sent(emulator, "sendMessage", group)]
    assert len(texts) == 2, texts  # "Queued" and the settings: nothing about lunch or the PDF
