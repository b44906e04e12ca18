"""Telegram misbehaving, one fault at a time (emulator fault injection): 5xx answers and
dropped connections on getFile, on the download and on every kind of send are retried with
backoff, then the user is told; a getUpdates outage is ridden out without losing an update.

Faults already covered elsewhere are not repeated here: getFile 500 + a dropped download
retried, a download failing with 502 for good, and 429 on sendDocument
(``test_durability.py``); the model raising on one photo (``test_refusals.py``).
"""

from __future__ import annotations

import datetime as dtm
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.app import JOURNAL_FILE, PTB_TIMEDELTA
from bot.journal import Journal
from bot.retry import RetryPolicy, with_retries
from tests.bot.botkit import (
    OTHER_USER,
    USER,
    WAIT_S,
    GatedSegmenter,
    photo,
    reply,
    sent,
    texted,
    to,
)
from tests.bot.conftest import StartBot
from tests.bot.emulator import ApiCall, BotApiEmulator

# Waits long enough to read apart in the log ("0.1 s", then "0.2 s"), short enough for a test.
BACKOFF = RetryPolicy(tries=3, base_delay_s=0.1, max_delay_s=1.0)
# The waits BACKOFF logs between its three tries.
BACKOFF_WAITS = ["0.1", "0.2"]

# Fault kinds: keyword arguments of ``emulator.fail`` and the status the emulator records.
SERVER_ERROR: dict[str, Any] = {"error_code": 500}
BAD_GATEWAY: dict[str, Any] = {"error_code": 502}
DROPPED: dict[str, Any] = {"drop_connection": True}
FAULTS = {"500": SERVER_ERROR, "502": BAD_GATEWAY, "dropped": DROPPED}


def status_of(fault: dict[str, Any]) -> int:
    return 0 if fault.get("drop_connection") else int(fault["error_code"])


def statuses(emu: BotApiEmulator, method: str, since: int = 0) -> list[int]:
    return [call.status for call in emu.calls[since:] if call.method == method]


def waits_logged(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    """The backoff waits bot.retry announced for ``what`` ("0.1", "0.2" ...), in order."""
    pattern = re.compile(re.escape(what) + r" failed \(.*\); trying again in ([\d.]+) s")
    found = []
    for record in caplog.records:
        if record.name == "bot.retry":
            match = pattern.search(record.getMessage())
            if match:
                found.append(match.group(1))
    return found


async def unfinished_jobs(data_dir: Path) -> list[int]:
    journal = await Journal.open(data_dir / JOURNAL_FILE)
    try:
        return [job.id for job in await journal.unfinished()]
    finally:
        await journal.close()


async def sticker_then_done(emu: BotApiEmulator, chat_id: int, job_id: int) -> None:
    await emu.wait_for("sendDocument", to(chat_id), WAIT_S)
    await emu.wait_for("editMessageText", texted(chat_id, f"Done ✓ #{job_id}"), WAIT_S)


@pytest.fixture
def retry_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="bot.retry")
    return caplog


# --- the backoff itself ------------------------------------------------------------------------


def test_the_default_policy_backs_off_exponentially_and_is_capped() -> None:
    assert list(RetryPolicy().delays()) == [1.0, 2.0, 4.0]
    assert list(RetryPolicy(tries=6, base_delay_s=10.0, max_delay_s=30.0).delays()) == [
        10.0,
        20.0,
        30.0,
        30.0,
        30.0,
    ]


async def test_only_passing_failures_are_retried(retry_log: pytest.LogCaptureFixture) -> None:
    def failing(error: TelegramError) -> tuple[Callable[[], Awaitable[None]], list[int]]:
        calls: list[int] = []

        async def call() -> None:
            calls.append(1)
            raise error

        return call, calls

    for transient in (NetworkError("Bad Gateway"), NetworkError("Internal Server Error (500)")):
        call, calls = failing(transient)
        with pytest.raises(NetworkError):
            await with_retries(call, BACKOFF, "a transient call")
        assert len(calls) == BACKOFF.tries
    for final in (BadRequest("Bad Request: chat not found"), Forbidden("bot was blocked")):
        call, calls = failing(final)
        with pytest.raises(type(final)):
            await with_retries(call, BACKOFF, "a refused call")
        assert len(calls) == 1
    assert waits_logged(retry_log, "a transient call") == BACKOFF_WAITS * 2
    assert waits_logged(retry_log, "a refused call") == []


async def test_flood_control_waits_at_least_what_telegram_asked(
    retry_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PTB_TIMEDELTA, "true")  # as the bot does (bot.app)
    answers: list[TelegramError | None] = [
        RetryAfter(dtm.timedelta(milliseconds=300)),
        None,
    ]

    async def call() -> str:
        error = answers.pop(0)
        if error is not None:
            raise error
        return "sent"

    assert await with_retries(call, BACKOFF, "a flooded call") == "sent"
    # The policy alone would wait 0.1 s; Telegram asked for 0.3 s.
    assert waits_logged(retry_log, "a flooded call") == ["0.3"]


# --- getFile and the download -----------------------------------------------------------------


async def test_dropped_get_file_connections_are_retried(
    emulator: BotApiEmulator, start_bot: StartBot, retry_log: pytest.LogCaptureFixture
) -> None:
    await start_bot(retry=BACKOFF)
    emulator.fail("getFile", times=2, drop_connection=True)
    emulator.send_photo(USER, photo())
    await sticker_then_done(emulator, USER, 1)
    assert statuses(emulator, "getFile") == [0, 0, 200]
    assert waits_logged(retry_log, "downloading the photo of job 1") == BACKOFF_WAITS


FETCH_FAILED = "I couldn't get this photo from Telegram. Please send it again."
SEND_FAILED = "Something went wrong with this photo, sorry."


@pytest.mark.parametrize(
    ("method", "fault", "told", "retried"),
    [
        ("getFile", SERVER_ERROR, FETCH_FAILED, "downloading the photo"),
        ("getFile", DROPPED, FETCH_FAILED, "downloading the photo"),
        # (download, 502) is test_durability's.
        ("download", DROPPED, FETCH_FAILED, "downloading the photo"),
        ("download", SERVER_ERROR, FETCH_FAILED, "downloading the photo"),
        ("sendDocument", SERVER_ERROR, SEND_FAILED, "sending the document"),
        ("sendDocument", DROPPED, SEND_FAILED, "sending the document"),
    ],
    ids=[
        "getFile-500",
        "getFile-dropped",
        "download-dropped",
        "download-500",
        "sendDocument-500",
        "sendDocument-dropped",
    ],
)
async def test_a_step_that_keeps_failing_is_told_and_the_bot_goes_on(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    data_dir: Path,
    retry_log: pytest.LogCaptureFixture,
    method: str,
    fault: dict[str, Any],
    told: str,
    retried: str,
) -> None:
    bot = await start_bot(retry=BACKOFF)
    emulator.fail(method, times=BACKOFF.tries, **fault)
    emulator.send_photo(USER, photo())
    await reply(emulator, USER, told)
    await emulator.wait_for("editMessageText", texted(USER, "#1: no sticker"), WAIT_S)
    assert statuses(emulator, method) == [status_of(fault)] * BACKOFF.tries
    assert waits_logged(retry_log, f"{retried} of job 1") == BACKOFF_WAITS
    assert not [call for call in sent(emulator, "sendDocument", USER) if call.ok]
    await bot.worker.wait_idle()
    assert await unfinished_jobs(data_dir) == []  # closed: not taken up again at the next start

    # The faults are spent: the next photo is fine.
    mark = len(emulator.calls)
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendSticker", to(USER), WAIT_S, since=mark)
    await emulator.wait_for("editMessageText", texted(USER, "Done ✓ #2"), WAIT_S, since=mark)


# --- sending the answer -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sendDocument", "sendSticker"])
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_a_send_failing_for_a_while_is_retried_and_sent_once(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    retry_log: pytest.LogCaptureFixture,
    method: str,
    fault: dict[str, Any],
) -> None:
    await start_bot(retry=BACKOFF)
    emulator.fail(method, times=BACKOFF.tries - 1, **fault)
    emulator.send_photo(USER, photo())
    await sticker_then_done(emulator, USER, 1)
    await emulator.wait_for("sendSticker", to(USER), WAIT_S)

    assert statuses(emulator, method) == [status_of(fault)] * (BACKOFF.tries - 1) + [200]
    part = "document" if method == "sendDocument" else "sticker"
    assert waits_logged(retry_log, f"sending the {part} of job 1") == BACKOFF_WAITS
    # Exactly one of each reached the user; nothing else was said.
    assert len(sent(emulator, "sendDocument", USER)) == 1
    assert len(sent(emulator, "sendSticker", USER)) == 1
    assert [c.params["text"][:7] for c in sent(emulator, "sendMessage", USER)] == ["Queued,"]


@pytest.mark.parametrize("fault", [SERVER_ERROR, DROPPED], ids=["500", "dropped"])
async def test_a_preview_that_keeps_failing_leaves_the_png_as_the_answer(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    data_dir: Path,
    fault: dict[str, Any],
) -> None:
    """The PNG document is the sticker-ready product: once it is out, a WEBP preview that
    fails for good is no error for the user; the pack button moves under the PNG."""
    bot = await start_bot(retry=BACKOFF)
    emulator.send_text(USER, "/start")  # packs need a user who started the bot
    await reply(emulator, USER, "")
    mark = len(emulator.calls)
    emulator.fail("sendSticker", times=BACKOFF.tries, **fault)
    emulator.send_photo(USER, photo())
    await emulator.wait_for("editMessageText", texted(USER, "Done ✓ #1"), WAIT_S)
    await bot.worker.wait_idle()
    assert statuses(emulator, "sendSticker") == [status_of(fault)] * BACKOFF.tries
    [document] = sent(emulator, "sendDocument", USER)
    said = [c.params["text"][:7] for c in emulator.calls[mark:] if c.method == "sendMessage"]
    assert said == ["Queued,"]  # no "Something went wrong"
    assert await unfinished_jobs(data_dir) == []
    # The "Add to my pack" button is now under the PNG, and it works.
    edit = await emulator.wait_for("editMessageReplyMarkup", to(USER), WAIT_S)
    assert edit.result["message_id"] == document.result["message_id"]
    [[pack]] = edit.result["reply_markup"]["inline_keyboard"]
    since = len(emulator.calls)
    emulator.press_button(USER, edit.result, pack["callback_data"])
    answer = await reply(emulator, USER, "https://t.me/addstickers/", since)
    assert f"pack_{USER}_by_" in answer.params["text"]


def no_object_reply(call: ApiCall) -> bool:
    return to(USER)(call) and "couldn't find" in str(call.params.get("text"))


@pytest.mark.parametrize("fault", [SERVER_ERROR, DROPPED], ids=["500", "dropped"])
async def test_an_explanation_failing_for_a_while_is_retried_and_sent_once(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    retry_log: pytest.LogCaptureFixture,
    fault: dict[str, Any],
) -> None:
    model = GatedSegmenter()
    await start_bot(segmenter=model, retry=BACKOFF)
    emulator.send_photo(USER, photo(cat=False))  # nothing the model knows: an explanation
    await reply(emulator, USER, "Queued, #1")
    await model.wait_entered()
    mark = len(emulator.calls)
    emulator.fail("sendMessage", times=BACKOFF.tries - 1, **fault)
    model.gate.set()

    await emulator.wait_for("sendMessage", no_object_reply, WAIT_S, since=mark)
    await emulator.wait_for("editMessageText", texted(USER, "#1: no sticker"), WAIT_S)
    assert statuses(emulator, "sendMessage", mark) == [status_of(fault)] * 2 + [200]
    assert waits_logged(retry_log, "sending the choice of job 1") == BACKOFF_WAITS
    assert len([c for c in emulator.calls_to("sendMessage") if no_object_reply(c)]) == 1


async def test_an_explanation_that_cannot_be_sent_closes_the_job_and_the_bot_goes_on(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    data_dir: Path,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    model = GatedSegmenter()
    bot = await start_bot(segmenter=model, retry=BACKOFF)
    emulator.send_photo(USER, photo(cat=False))
    await reply(emulator, USER, "Queued, #1")
    await model.wait_entered()
    mark = len(emulator.calls)
    emulator.fail("sendMessage", times=BACKOFF.tries)
    model.gate.set()

    await bot.worker.wait_idle()
    assert statuses(emulator, "sendMessage", mark) == [500] * BACKOFF.tries
    assert waits_logged(retry_log, "sending the choice of job 1") == BACKOFF_WAITS
    # Nobody could be told; the job is closed all the same (not retried forever, not stuck),
    # and its status line is left as it was rather than pointing at a message that never came.
    assert await unfinished_jobs(data_dir) == []
    assert not emulator.calls_to("editMessageText")
    assert bot.stats.outcomes["no_object"] == 1

    emulator.send_photo(OTHER_USER, photo())
    await sticker_then_done(emulator, OTHER_USER, 2)


# --- getUpdates ----------------------------------------------------------------------------------


async def test_polling_rides_out_a_get_updates_outage_without_losing_an_update(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    # PTB's own retry loop waits 1 s, 1.5 s, 2.25 s ... between failed polls: three failures
    # (a 500, a dropped connection, a 502) keep this test under 5 s.
    await start_bot()
    await emulator.wait_for_polling()
    emulator.fail("getUpdates", error_code=500)
    emulator.fail("getUpdates", drop_connection=True)
    emulator.fail("getUpdates", error_code=502)
    # The poll in flight answers with the first message; the next polls fail.
    emulator.send_text(USER, "/settings")
    await emulator.wait_for("getUpdates", lambda call: call.status == 500, WAIT_S)
    # Users keep writing while the bot cannot fetch updates.
    emulator.send_photo(USER, photo())
    emulator.send_text(OTHER_USER, "/help")
    emulator.send_photo(OTHER_USER, photo())
    await emulator.wait_for("getUpdates", lambda call: call.status == 502, WAIT_S)
    assert not sent(emulator, "sendMessage", OTHER_USER)  # really cut off meanwhile

    await reply(emulator, OTHER_USER, "Send me a photo and I cut out")
    await sticker_then_done(emulator, USER, 1)
    await sticker_then_done(emulator, OTHER_USER, 2)
    await emulator.wait_for_polling()

    assert statuses(emulator, "getUpdates").count(500) == 1
    assert statuses(emulator, "getUpdates").count(0) == 1
    assert statuses(emulator, "getUpdates").count(502) == 1
    # Every message answered exactly once, and every update confirmed.
    for chat in (USER, OTHER_USER):
        assert len(sent(emulator, "sendDocument", chat)) == 1
        assert len(sent(emulator, "sendSticker", chat)) == 1
        queued = [c for c in sent(emulator, "sendMessage", chat) if "Queued" in c.params["text"]]
        assert len(queued) == 1
    assert (
        len([c for c in sent(emulator, "sendMessage", USER) if "settings" in c.params["text"]]) == 1
    )
    helps = [c for c in sent(emulator, "sendMessage", OTHER_USER) if "/class" in c.params["text"]]
    assert len(helps) == 1
    assert emulator.pending_updates == []
