"""The job journal: every accepted photo, its state and the answers sent, in SQLite.

A job is written here before the user hears "Queued", and marked finished only after its
answer went out; every message of an answer is recorded as it is sent, and looked up before
sending, so a restart resumes unfinished jobs without sending anything twice. The journal
keeps Telegram's ``file_id``, never the image. Per-chat settings live in the same database,
and so do the users' sticker packs (tables here, queries in :mod:`bot.packs`).

States::

    queued --(worker takes it; attempts += 1)--> running --(answer sent)--> done
                                                     |                   \\-> failed (user told)
                                                     \\--(crash/restart)--> taken up again

sqlite3 is synchronous: one dedicated thread owns the connection, and every call hops to
it, so the event loop never waits on the disk and no two statements interleave.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from segmentation.classes import AUTO
from segmentation.options import DEFAULT_OUTLINE_STYLE as DEFAULT_STYLE

T = TypeVar("T")

SCHEMA_VERSION = 4
# Finished jobs are kept this long: the "tap a class" buttons of a photo work until then.
RETENTION_SECONDS = 7 * 24 * 3600
# Waiting for a lock beyond this means something else holds the database: fail loudly.
BUSY_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,          -- the user's photo, which answers reply to
    file_id TEXT NOT NULL,                -- Telegram's handle of the photo (never the bytes)
    target TEXT NOT NULL,
    crf INTEGER NOT NULL,
    style TEXT NOT NULL DEFAULT 'stroke',  -- the outline style's name (schema 4)
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    status_message_id INTEGER,            -- our "Queued, #N" message, edited when done
    outcome TEXT,                         -- 'sticker' or an ErrorKind
    result_class TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (chat_id, message_id, target, crf)
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (state, user_id);
CREATE TABLE IF NOT EXISTS sent (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    part TEXT NOT NULL,                   -- 'document', 'sticker', 'choice', 'error', 'status'
    message_id INTEGER,
    file_id TEXT,                         -- what Telegram stored the sent file as (schema 2)
    PRIMARY KEY (job_id, part)
);
CREATE TABLE IF NOT EXISTS chat_settings (
    chat_id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    crf INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    language TEXT,                        -- chosen with /lang (schema 3); NULL: Telegram's
    telegram_language TEXT,               -- the language_code last seen in the chat (schema 3)
    style TEXT NOT NULL DEFAULT 'stroke'  -- the outline style's name (schema 4)
);
-- Sticker sets the bot made for a user (bot.packs): numbered 1, 2, ... as each fills up.
CREATE TABLE IF NOT EXISTS packs (
    user_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    name TEXT NOT NULL UNIQUE,            -- the set's name on Telegram (t.me/addstickers/<name>)
    title TEXT NOT NULL,
    count INTEGER NOT NULL,               -- stickers in it, as far as the bot knows
    gone INTEGER NOT NULL DEFAULT 0,      -- deleted by its owner (via @Stickers)
    created_at REAL NOT NULL,
    PRIMARY KEY (user_id, number)
);
-- Which job's sticker went into which pack: a second press adds nothing. No foreign key:
-- pruning a job must not forget that its sticker is in a pack.
CREATE TABLE IF NOT EXISTS pack_stickers (
    user_id INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    pack_name TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (user_id, job_id)
);
CREATE TABLE IF NOT EXISTS pack_settings (
    user_id INTEGER PRIMARY KEY,
    emoji TEXT,                           -- NULL: the emoji of each sticker's class
    updated_at REAL NOT NULL
);
"""
# Schema 1 -> 2: the file_id of sent files (the packs tables are created by _SCHEMA).
_MIGRATE_TO_2 = "ALTER TABLE sent ADD COLUMN file_id TEXT"
# Schema 2 -> 3: the chat's language (bot.i18n), two columns of chat_settings (added unless
# _SCHEMA just created the table with them).
_COLUMNS_OF_3 = ("language", "telegram_language")
# Schema 3 -> 4: the outline style of jobs and of each chat's settings (added unless
# _SCHEMA just created the table with it).
_TABLES_OF_4 = ("jobs", "chat_settings")
_ADD_STYLE = "ALTER TABLE {} ADD COLUMN style TEXT NOT NULL DEFAULT 'stroke'"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Refusal(StrEnum):
    """Why a photo was not accepted."""

    BUSY = "busy"
    USER_LIMIT = "user_limit"


@dataclass(frozen=True, slots=True)
class Job:
    """One accepted photo (a journal row): plain data, safe to queue or pickle."""

    id: int
    chat_id: int
    user_id: int
    message_id: int
    file_id: str
    target: str
    crf: bool
    state: JobState
    attempts: int
    status_message_id: int | None
    created_at: float
    # The outline style's name (segmentation.options.OUTLINE_STYLES).
    style: str = DEFAULT_STYLE


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to :meth:`Journal.accept`: a new job, a duplicate, or a refusal."""

    job: Job | None = None
    refused: Refusal | None = None
    # The same photo with the same options was already accepted (a redelivered update).
    duplicate: bool = False
    # Unfinished jobs accepted before this one.
    ahead: int = 0


@dataclass(frozen=True, slots=True)
class ChatSettings:
    target: str = AUTO
    crf: bool = True
    # The language chosen with /lang; None: the user's Telegram language (bot.i18n.resolve).
    language: str | None = None
    # The language_code Telegram last sent from this chat (what answers of queued jobs use).
    telegram_language: str | None = None
    # The outline style's name (segmentation.options.OUTLINE_STYLES).
    style: str = DEFAULT_STYLE


_JOB_COLUMNS = (
    "id, chat_id, user_id, message_id, file_id, target, crf, state, attempts, "
    "status_message_id, created_at, style"
)
_UNFINISHED = "state IN ('queued', 'running')"


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        chat_id=row["chat_id"],
        user_id=row["user_id"],
        message_id=row["message_id"],
        file_id=row["file_id"],
        target=row["target"],
        crf=bool(row["crf"]),
        state=JobState(row["state"]),
        attempts=row["attempts"],
        status_message_id=row["status_message_id"],
        style=row["style"],
        created_at=row["created_at"],
    )


class Journal:
    """Async facade over one SQLite database file: :meth:`open` it (or :meth:`connect`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> Journal:
        journal = cls(path)
        await journal.connect()
        return journal

    async def connect(self) -> None:
        """Open (creating if needed) the database file and its tables."""
        await self._call(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            await self._call(self._db.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    # --- jobs ---------------------------------------------------------------------------------

    async def accept(
        self,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        file_id: str,
        target: str,
        crf: bool,
        queue_max: int,
        user_max: int,
        style: str = DEFAULT_STYLE,
    ) -> Admission:
        """Record a new queued job, unless the queue or the user's share of it is full."""

        def accept() -> Admission:
            db = self._db
            with db:
                existing = db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs "
                    "WHERE chat_id = ? AND message_id = ? AND target = ? AND crf = ?",
                    (chat_id, message_id, target, int(crf)),
                ).fetchone()
                if existing is not None:
                    return Admission(job=_job(existing), duplicate=True)
                total = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {_UNFINISHED}").fetchone()
                if total[0] >= queue_max:
                    return Admission(refused=Refusal.BUSY)
                mine = db.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE {_UNFINISHED} AND user_id = ?", (user_id,)
                ).fetchone()
                if mine[0] >= user_max:
                    return Admission(refused=Refusal.USER_LIMIT)
                now = time.time()
                cursor = db.execute(
                    "INSERT INTO jobs (chat_id, user_id, message_id, file_id, target, crf, "
                    "style, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                    (chat_id, user_id, message_id, file_id, target, int(crf), style, now, now),
                )
                row = db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (cursor.lastrowid,)
                ).fetchone()
                return Admission(job=_job(row), ahead=total[0])

        return await self._call(accept)

    async def get(self, job_id: int) -> Job | None:
        def get() -> Job | None:
            row = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            return None if row is None else _job(row)

        return await self._call(get)

    async def unfinished(self) -> list[Job]:
        """Queued and running jobs, oldest first (what a restart must take up again)."""

        def unfinished() -> list[Job]:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {_UNFINISHED} ORDER BY id"
            ).fetchall()
            return [_job(row) for row in rows]

        return await self._call(unfinished)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        await self._update(job_id, "status_message_id = ?", message_id)

    async def sharing_status(self, job: Job) -> list[tuple[int, JobState]]:
        """The jobs (id, state) whose status is ``job``'s status message: an album's photos
        share one (bot.handlers.photos); a photo on its own has only itself."""
        if job.status_message_id is None:
            return [(job.id, job.state)]

        def siblings() -> list[tuple[int, JobState]]:
            rows = self._db.execute(
                "SELECT id, state FROM jobs WHERE chat_id = ? AND status_message_id = ? "
                "ORDER BY id",
                (job.chat_id, job.status_message_id),
            ).fetchall()
            return [(row["id"], JobState(row["state"])) for row in rows]

        return await self._call(siblings)

    async def mark_running(self, job_id: int) -> None:
        """The worker takes the job up: one more attempt."""
        await self._update(job_id, "state = 'running', attempts = attempts + 1")

    async def set_result_class(self, job_id: int, result_class: str) -> None:
        """The class the sticker shows, recorded before any part is sent: a button under
        the sticker (e.g. "Add to my pack") may be pressed before the job is closed."""
        await self._update(job_id, "result_class = ?", result_class)

    async def finish(
        self, job_id: int, state: JobState, outcome: str, result_class: str | None = None
    ) -> None:
        """Close the job, after every part of its answer was sent (or could not be)."""
        if state not in (JobState.DONE, JobState.FAILED):
            raise ValueError(f"a job finishes as done or failed, not {state}")
        await self._update(
            job_id, "state = ?, outcome = ?, result_class = ?", state, outcome, result_class
        )

    async def _update(self, job_id: int, assignments: str, *values: object) -> None:
        def update() -> None:
            with self._db as db:
                db.execute(
                    f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?",
                    (*values, time.time(), job_id),
                )

        await self._call(update)

    # --- answers sent -------------------------------------------------------------------------

    async def sent_parts(self, job_id: int) -> dict[str, int | None]:
        """The parts of this job's answer already sent: part -> Telegram message id."""

        def parts() -> dict[str, int | None]:
            rows = self._db.execute(
                "SELECT part, message_id FROM sent WHERE job_id = ?", (job_id,)
            ).fetchall()
            return {row["part"]: row["message_id"] for row in rows}

        return await self._call(parts)

    async def record_sent(
        self, job_id: int, part: str, message_id: int | None, file_id: str | None = None
    ) -> None:
        """Remember a sent part; ``file_id`` is the sent file's (to send or use it again)."""

        def record() -> None:
            with self._db as db:
                db.execute(
                    "INSERT OR REPLACE INTO sent (job_id, part, message_id, file_id) "
                    "VALUES (?, ?, ?, ?)",
                    (job_id, part, message_id, file_id),
                )

        await self._call(record)

    async def sent_files(self, job_id: int) -> dict[str, str]:
        """The file_ids of this job's sent files: part ('document', 'sticker') -> file_id."""

        def files() -> dict[str, str]:
            rows = self._db.execute(
                "SELECT part, file_id FROM sent WHERE job_id = ? AND file_id IS NOT NULL",
                (job_id,),
            ).fetchall()
            return {row["part"]: row["file_id"] for row in rows}

        return await self._call(files)

    # --- chat settings ------------------------------------------------------------------------

    async def chat_settings(self, chat_id: int) -> ChatSettings:
        def read() -> ChatSettings:
            row = self._db.execute(
                "SELECT target, crf, language, telegram_language, style FROM chat_settings "
                "WHERE chat_id = ?",
                (chat_id,),
            ).fetchone()
            if row is None:
                return ChatSettings()
            return ChatSettings(
                row["target"],
                bool(row["crf"]),
                row["language"],
                row["telegram_language"],
                row["style"],
            )

        return await self._call(read)

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        def write() -> None:
            with self._db as db:
                db.execute(
                    "INSERT INTO chat_settings (chat_id, target, crf, language, "
                    "telegram_language, style, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (chat_id) DO UPDATE SET "
                    "target = excluded.target, crf = excluded.crf, "
                    "language = excluded.language, "
                    "telegram_language = excluded.telegram_language, style = excluded.style, "
                    "updated_at = excluded.updated_at",
                    (
                        chat_id,
                        settings.target,
                        int(settings.crf),
                        settings.language,
                        settings.telegram_language,
                        settings.style,
                        time.time(),
                    ),
                )

        await self._call(write)

    # --- housekeeping -------------------------------------------------------------------------

    async def prune(self, older_than_s: float = RETENTION_SECONDS) -> int:
        """Forget finished jobs last touched more than ``older_than_s`` ago; returns how many."""

        def prune() -> int:
            with self._db as db:
                cursor = db.execute(
                    f"DELETE FROM jobs WHERE NOT {_UNFINISHED} AND updated_at < ?",
                    (time.time() - older_than_s,),
                )
                return cursor.rowcount

        return await self._call(prune)

    # --- plumbing -----------------------------------------------------------------------------

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the journal's thread: for stores sharing this database
        (:mod:`bot.packs`). ``fn`` wraps its writes in ``with connection:``."""
        return await self._call(lambda: fn(self._db))

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the journal is closed")
        return self._conn

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        conn.row_factory = sqlite3.Row
        # WAL + synchronous=NORMAL: a committed job survives the process being killed (only
        # a power cut can lose the last transactions), at a fraction of FULL's fsync cost.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(
                f"{self.path} was written by a newer version (schema {version}); "
                f"this one reads schema {SCHEMA_VERSION}"
            )
        with conn:
            conn.executescript(_SCHEMA)
            if 0 < version < 2:
                conn.execute(_MIGRATE_TO_2)
            if 0 < version < 3:
                have = {row["name"] for row in conn.execute("PRAGMA table_info(chat_settings)")}
                for column in _COLUMNS_OF_3:
                    if column not in have:
                        conn.execute(f"ALTER TABLE chat_settings ADD COLUMN {column} TEXT")
            if 0 < version < 4:
                for table in _TABLES_OF_4:
                    columns = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                    if "style" not in columns:
                        conn.execute(_ADD_STYLE.format(table))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._conn = conn

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
