"""The journal: admission, states, answers recorded, settings, survival across reopening."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.chats import ChatSettings
from bot.database import SCHEMA_VERSION
from bot.jobs import Admission, Counts, JobState, Refusal
from bot.journal import Journal


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    journal = await Journal.open(tmp_path / "state" / "journal.sqlite3")
    yield journal
    await journal.close()


async def accept(
    journal: Journal,
    message_id: int,
    *,
    user_id: int = 1,
    target: str = "auto",
    queue_max: int = 10,
    user_max: int = 3,
) -> Admission:
    return await journal.call(
        journal.jobs.accept,
        chat_id=user_id,
        user_id=user_id,
        message_id=message_id,
        file_id=f"file-{message_id}",
        target=target,
        crf=True,
        queue_max=queue_max,
        user_max=user_max,
    )


async def test_accepted_job_is_queued_with_file_id_only(journal: Journal) -> None:
    admission = await accept(journal, 7)
    job = admission.job
    assert job is not None
    assert admission.refused is None
    assert not admission.duplicate
    assert (job.state, job.attempts, job.file_id, job.message_id) == (
        JobState.QUEUED,
        0,
        "file-7",
        7,
    )
    assert await journal.unfinished() == [job]


async def test_ahead_counts_unfinished_jobs(journal: Journal) -> None:
    assert (await accept(journal, 1)).ahead == 0
    assert (await accept(journal, 2, user_id=2)).ahead == 1


async def test_queue_full_and_user_limit(journal: Journal) -> None:
    assert (await accept(journal, 1, user_id=1, user_max=1)).job is not None
    assert (await accept(journal, 2, user_id=1, user_max=1)).refused is Refusal.USER_LIMIT
    assert (await accept(journal, 3, user_id=2, queue_max=1)).refused is Refusal.BUSY
    assert len(await journal.unfinished()) == 1


async def test_finished_jobs_free_their_place(journal: Journal) -> None:
    first = (await accept(journal, 1, user_max=1)).job
    assert first is not None
    assert await journal.claim("w", 30) == replace(first, state=JobState.RUNNING, attempts=1)
    await journal.finish(first.id, JobState.DONE, "sticker", "cat")
    assert (await accept(journal, 2, user_max=1)).job is not None


async def test_a_redelivered_update_is_a_duplicate(journal: Journal) -> None:
    first = await accept(journal, 5)
    again = await accept(journal, 5)
    assert again.duplicate
    assert again.job == first.job
    other_class = await accept(journal, 5, target="dog")
    assert not other_class.duplicate


async def test_running_counts_attempts_and_finish_closes(journal: Journal) -> None:
    job = (await accept(journal, 1)).job
    assert job is not None
    await journal.claim("dead", -1)  # a lease that has already run out
    await journal.claim("next", 30)
    running = await journal.get(job.id)
    assert running is not None
    assert (running.state, running.attempts) == (JobState.RUNNING, 2)
    await journal.finish(job.id, JobState.FAILED, "internal")
    closed = await journal.get(job.id)
    assert closed is not None
    assert closed.state is JobState.FAILED
    assert await journal.unfinished() == []
    with pytest.raises(ValueError, match="done or failed"):
        await journal.finish(job.id, JobState.RUNNING, "x")


async def test_sent_parts_are_recorded(journal: Journal) -> None:
    job = (await accept(journal, 1)).job
    assert job is not None
    assert await journal.sent_parts(job.id) == {}
    await journal.record_sent(job.id, "document", 99)
    await journal.record_sent(job.id, "status", None)
    assert await journal.sent_parts(job.id) == {"document": 99, "status": None}


async def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(path)
    job = (await accept(journal, 1)).job
    assert job is not None
    await journal.set_status_message(job.id, 42)
    await journal.claim("w", 30)
    await journal.record_sent(job.id, "document", 43)
    await journal.save_chat_settings(1, ChatSettings(target="dog", crf=False))
    await journal.close()

    reopened = await Journal.open(path)
    try:
        [again] = await reopened.unfinished()
        assert (again.id, again.state, again.attempts, again.status_message_id) == (
            job.id,
            JobState.RUNNING,
            1,
            42,
        )
        assert await reopened.sent_parts(job.id) == {"document": 43}
        assert await reopened.chat_settings(1) == ChatSettings(target="dog", crf=False)
        assert await reopened.chat_settings(2) == ChatSettings()
    finally:
        await reopened.close()


async def test_prune_forgets_old_finished_jobs_only(journal: Journal) -> None:
    done = (await accept(journal, 1)).job
    waiting = (await accept(journal, 2)).job
    assert done is not None
    assert waiting is not None
    await journal.record_sent(done.id, "document", 1)
    await journal.finish(done.id, JobState.DONE, "sticker", "cat")
    assert await journal.prune(older_than_s=3600) == 0
    assert await journal.prune(older_than_s=-1) == 1
    assert await journal.get(done.id) is None
    assert await journal.sent_parts(done.id) == {}
    assert await journal.get(waiting.id) is not None


async def test_the_journal_never_holds_image_bytes(journal: Journal) -> None:
    await accept(journal, 1)

    def columns_of(table: str) -> set[str]:
        db = journal.database.connection
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    def all_columns() -> set[str]:
        return columns_of("jobs") | columns_of("sent") | columns_of("chat_settings")

    columns = await journal.call(all_columns)
    assert not any("png" in name or "data" in name or "bytes" in name for name in columns)


async def test_a_leased_job_is_claimed_again_only_when_its_lease_runs_out(journal: Journal) -> None:
    first = (await accept(journal, 1)).job
    second = (await accept(journal, 2)).job
    assert first is not None
    assert second is not None
    assert (await journal.claim("a", 30)) == replace(first, state=JobState.RUNNING, attempts=1)
    assert (await journal.claim("b", 30)) == replace(second, state=JobState.RUNNING, attempts=1)
    assert await journal.claim("c", 30) is None  # both leased
    jobs = journal.jobs
    assert await journal.call(jobs.renew, first.id, "a", 30)
    assert not await journal.call(jobs.renew, first.id, "b", 30)  # not b's lease
    assert await journal.call(jobs.renew, second.id, "b", -1)  # b stops renewing: ran out
    taken_over = await journal.claim("c", 30)
    assert taken_over is not None
    assert (taken_over.id, taken_over.attempts) == (second.id, 2)
    assert not await journal.call(jobs.renew, second.id, "b", 30)  # b lost it


async def test_release_undoes_the_attempt_and_hold_stops_the_lease(journal: Journal) -> None:
    job = (await accept(journal, 1)).job
    assert job is not None
    await journal.claim("a", 30)
    assert await journal.call(journal.jobs.release, job.id, "a")
    assert await journal.get(job.id) == job  # queued again, no attempt counted
    await journal.claim("a", -1)
    assert await journal.call(journal.jobs.hold, job.id)  # computed: being delivered
    assert await journal.claim("b", 30) is None  # a held job is never handed out again
    assert await journal.call(journal.jobs.expire_leases) == 1  # after a restart, it is
    again = await journal.claim("b", 30)
    assert again is not None
    assert again.attempts == 2
    assert await journal.counts() == Counts(queued=0, running=1)


async def test_a_schema_2_journal_gains_the_lease_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL, "
            "user_id INTEGER NOT NULL, message_id INTEGER NOT NULL, file_id TEXT NOT NULL, "
            "target TEXT NOT NULL, crf INTEGER NOT NULL, state TEXT NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0, status_message_id INTEGER, outcome TEXT, "
            "result_class TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, "
            "UNIQUE (chat_id, message_id, target, crf));"
            "INSERT INTO jobs (chat_id, user_id, message_id, file_id, target, crf, state, "
            "attempts, created_at, updated_at) "
            "VALUES (1, 1, 5, 'f', 'auto', 1, 'running', 1, 0, 0);"
            "PRAGMA user_version = 2;"
        )
    old.close()
    journal = await Journal.open(path)
    try:
        # Interrupted before the upgrade: its lease (none yet) lets it be claimed again.
        assert await journal.call(journal.jobs.expire_leases) == 1
        job = await journal.claim("w", 30)
        assert job is not None
        assert (job.id, job.attempts) == (1, 2)
    finally:
        await journal.close()


async def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as new:
        new.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    new.close()
    with pytest.raises(RuntimeError, match="newer version"):
        await Journal.open(path)
