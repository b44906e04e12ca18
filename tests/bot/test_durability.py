"""Durable jobs: restarts, graceful shutdown, retries. Every accepted photo ends in exactly one
sticker or one explanation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import JOURNAL_FILE
from bot.jobs import JobState
from bot.journal import Journal
from bot.retry import RetryPolicy
from tests.bot.botkit import USER, WAIT_S, GatedSegmenter, photo, reply, sent, texted, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator

# A backoff long enough that a test can stop the bot while it waits.
PATIENT = RetryPolicy(tries=3, base_delay_s=60.0, max_delay_s=60.0)


async def journal_states(data_dir: Path) -> dict[int, tuple[JobState, int]]:
    journal = await Journal.open(data_dir / JOURNAL_FILE)
    try:
        jobs = await journal.unfinished()
        return {job.id: (job.state, job.attempts) for job in jobs}
    finally:
        await journal.close()


async def answered_once(emu: BotApiEmulator, chat_id: int, job_id: int) -> None:
    await emu.wait_for("editMessageText", texted(chat_id, f"Done ✓ #{job_id}"), WAIT_S)


async def test_a_job_interrupted_on_the_model_is_answered_once_after_restart(
    emulator: BotApiEmulator, start_bot: StartBot, data_dir: Path
) -> None:
    model = GatedSegmenter()
    first = await start_bot(segmenter=model, SHUTDOWN_GRACE_SECONDS=0)
    emulator.send_photo(USER, photo())
    await reply(emulator, USER, "Queued, #1")
    await model.wait_entered()
    await first.stop()  # no grace: the job is cut off on the model, like a crash
    model.gate.set()
    assert await journal_states(data_dir) == {1: (JobState.RUNNING, 1)}

    second = await start_bot()
    await answered_once(emulator, USER, 1)
    await second.stop()
    assert len(sent(emulator, "sendDocument", USER)) == 1
    assert len(sent(emulator, "sendSticker", USER)) == 1
    assert await journal_states(data_dir) == {}


async def test_a_part_sent_before_the_restart_is_not_sent_again(
    emulator: BotApiEmulator, start_bot: StartBot, data_dir: Path
) -> None:
    first = await start_bot(retry=PATIENT, SHUTDOWN_GRACE_SECONDS=0)
    emulator.fail("sendSticker")  # the document goes out, the sticker does not (yet)
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    await emulator.wait_for("sendSticker", lambda call: call.status == 500, WAIT_S)
    await first.stop()  # while it waits to retry the sticker
    assert await journal_states(data_dir) == {1: (JobState.RUNNING, 1)}

    await start_bot()
    await answered_once(emulator, USER, 1)
    assert len(sent(emulator, "sendDocument", USER)) == 1
    assert len(sent(emulator, "sendSticker", USER)) == 1


async def test_graceful_shutdown_finishes_the_job_in_hand_and_keeps_the_rest(
    emulator: BotApiEmulator, start_bot: StartBot, data_dir: Path
) -> None:
    model = GatedSegmenter()
    first = await start_bot(segmenter=model)
    for _ in range(3):
        emulator.send_photo(USER, photo())
    await reply(emulator, USER, "Queued, #3")
    await model.wait_entered()

    stopping = asyncio.create_task(first.stop())
    while not first.worker.stopping:  # noqa: ASYNC110 - the bot's state has no event to await
        await asyncio.sleep(0.01)
    model.gate.set()
    await stopping

    assert len(sent(emulator, "sendDocument", USER)) == 1
    await answered_once(emulator, USER, 1)
    assert await journal_states(data_dir) == {
        2: (JobState.QUEUED, 0),
        3: (JobState.QUEUED, 0),
    }
    await start_bot()
    await answered_once(emulator, USER, 2)
    await answered_once(emulator, USER, 3)
    assert len(sent(emulator, "sendDocument", USER)) == 3


async def test_a_job_taken_up_too_often_is_reported_as_failed(
    emulator: BotApiEmulator, start_bot: StartBot, data_dir: Path
) -> None:
    update = emulator.send_photo(USER, photo())
    message = update["message"]
    journal = await Journal.open(data_dir / JOURNAL_FILE)
    admission = await journal.call(
        journal.jobs.accept,
        chat_id=USER,
        user_id=USER,
        message_id=message["message_id"],
        file_id=message["photo"][-1]["file_id"],
        target="auto",
        crf=True,
        queue_max=10,
        user_max=10,
    )
    assert admission.job is not None
    for _ in range(3):  # three start-ups died on this photo (leases that ran out)
        await journal.claim("died", -1)
    await journal.close()

    bot = await start_bot(MAX_ATTEMPTS=3)
    await reply(emulator, USER, "after several tries")
    await bot.stop()  # lets the answer finish: the journal is then final
    assert not emulator.calls_to("getFile")
    assert await journal_states(data_dir) == {}
    # The same update, delivered again, was recognised and not queued a second time.
    assert not emulator.calls_to("sendDocument")
    assert not [c for c in sent(emulator, "sendMessage", USER) if "Queued" in c.params["text"]]


async def test_download_faults_are_retried(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    emulator.fail("getFile", times=2)
    emulator.fail("download", drop_connection=True)
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert [call.status for call in emulator.calls_to("getFile")] == [500, 500, 200]


async def test_a_download_that_keeps_failing_is_told(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.fail("download", error_code=502, times=10)
    emulator.send_photo(USER, photo())
    await reply(emulator, USER, "couldn't get this photo from Telegram")
    assert not emulator.calls_to("sendDocument")


async def test_flood_control_is_waited_out(emulator: BotApiEmulator, start_bot: StartBot) -> None:
    await start_bot()
    emulator.fail("sendDocument", retry_after=1)
    emulator.send_photo(USER, photo())
    await answered_once(emulator, USER, 1)
    assert [call.status for call in sent(emulator, "sendDocument", USER)] == [200]
    assert [call.status for call in emulator.calls_to("sendDocument")] == [429, 200]
