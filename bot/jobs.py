"""The job store: every accepted photo, its state, its lease and the answers sent (SQLite).

A job is written here before the user hears "Queued", and marked finished only after its
answer went out; every message of an answer is recorded as it is sent, and looked up before
sending, so a restart resumes unfinished jobs without sending anything twice. The store
keeps Telegram's ``file_id``, never the image.

States::

    queued --claim (attempts += 1, leased to a worker)--> running --answer sent--> done
       ^                                                    |   \\------------------> failed
       \\------ release (never started: attempt undone) -----/
                 lease expired (worker died or hangs): claimed again, the attempt counted

A running job's lease says who works on it and until when; a job whose result is computed
and being delivered is *held* (no expiry) until it finishes. :class:`JobStore` is a plain
synchronous class over the connection of :class:`bot.database.Database`; the async facade
is :class:`bot.journal.Journal`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum

from bot.database import Store, Table
from segmentation.options import DEFAULT_OUTLINE_STYLE as DEFAULT_STYLE

# Finished jobs are kept this long: the "tap a class" buttons of a photo work until then.
RETENTION_SECONDS = 7 * 24 * 3600

TABLES = (
    Table(
        """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,          -- the user's photo, which answers reply to
    file_id TEXT NOT NULL,                -- Telegram's handle of the photo (never the bytes)
    target TEXT NOT NULL,
    crf INTEGER NOT NULL,
    style TEXT NOT NULL DEFAULT 'stroke', -- the outline style's name
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    status_message_id INTEGER,            -- our "Queued, #N" message, edited when done
    outcome TEXT,                         -- 'sticker' or an ErrorKind
    result_class TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_owner TEXT,                     -- the worker a running job is leased to
    lease_until REAL,                     -- lease expiry (epoch s); NULL: held for delivery
    UNIQUE (chat_id, message_id, target, crf)
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (state, user_id);
""",
        added=(
            ("style", "TEXT NOT NULL DEFAULT 'stroke'"),
            ("lease_owner", "TEXT"),
            ("lease_until", "REAL"),
        ),
    ),
    Table(
        """
CREATE TABLE IF NOT EXISTS sent (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    part TEXT NOT NULL,                   -- 'document', 'sticker', 'choice', 'error', 'status'
    message_id INTEGER,
    file_id TEXT,                         -- what Telegram stored the sent file as
    PRIMARY KEY (job_id, part)
);
""",
        added=(("file_id", "TEXT"),),
    ),
)


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
    """The answer to :meth:`JobStore.accept`: a new job, a duplicate, or a refusal."""

    job: Job | None = None
    refused: Refusal | None = None
    # The same photo with the same options was already accepted (a redelivered update).
    duplicate: bool = False
    # Unfinished jobs accepted before this one.
    ahead: int = 0


@dataclass(frozen=True, slots=True)
class Counts:
    """Unfinished jobs: waiting for a worker, and taken by one (computing or answering)."""

    queued: int = 0
    running: int = 0


_JOB_COLUMNS = (
    "id, chat_id, user_id, message_id, file_id, target, crf, state, attempts, "
    "status_message_id, created_at, style"
)
_UNFINISHED = "state IN ('queued', 'running')"
# A job a worker may claim: waiting, or running on a lease that ran out.
_CLAIMABLE = "state = 'queued' OR (state = 'running' AND lease_until < ?)"


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
        created_at=row["created_at"],
        style=row["style"],
    )


class JobStore(Store):
    """Jobs and the parts of their answers; every method runs on the database thread."""

    # --- admission ----------------------------------------------------------------------------

    def accept(
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
        db = self._db
        with db:
            existing = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs "
                "WHERE chat_id = ? AND message_id = ? AND target = ? AND crf = ?",
                (chat_id, message_id, target, int(crf)),
            ).fetchone()
            if existing is not None:
                return Admission(job=_job(existing), duplicate=True)
            total = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {_UNFINISHED}").fetchone()[0]
            if total >= queue_max:
                return Admission(refused=Refusal.BUSY)
            mine = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE {_UNFINISHED} AND user_id = ?", (user_id,)
            ).fetchone()[0]
            if mine >= user_max:
                return Admission(refused=Refusal.USER_LIMIT)
            now = time.time()
            row = db.execute(
                "INSERT INTO jobs (chat_id, user_id, message_id, file_id, target, crf, style, "
                "state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) "
                f"RETURNING {_JOB_COLUMNS}",
                (chat_id, user_id, message_id, file_id, target, int(crf), style, now, now),
            ).fetchone()
            return Admission(job=_job(row), ahead=total)

    # --- reading ------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        row = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return None if row is None else _job(row)

    def unfinished(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        rows = self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {_UNFINISHED} ORDER BY id"
        ).fetchall()
        return [_job(row) for row in rows]

    def counts(self) -> Counts:
        rows = self._db.execute(
            f"SELECT state, COUNT(*) FROM jobs WHERE {_UNFINISHED} GROUP BY state"
        ).fetchall()
        found = {row[0]: row[1] for row in rows}
        return Counts(queued=found.get("queued", 0), running=found.get("running", 0))

    def sharing_status(self, job: Job) -> list[tuple[int, JobState]]:
        """The jobs (id, state) whose status is ``job``'s status message: an album's photos
        share one (bot.handlers.photos); a photo on its own has only itself."""
        if job.status_message_id is None:
            return [(job.id, job.state)]
        rows = self._db.execute(
            "SELECT id, state FROM jobs WHERE chat_id = ? AND status_message_id = ? ORDER BY id",
            (job.chat_id, job.status_message_id),
        ).fetchall()
        return [(row["id"], JobState(row["state"])) for row in rows]

    def result_of(self, job_id: int) -> tuple[int, str | None] | None:
        """The job's chat and the class its sticker shows; None once the job is forgotten."""
        row = self._db.execute(
            "SELECT chat_id, result_class FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return None if row is None else (row["chat_id"], row["result_class"])

    # --- leases (the queue's side: bot.queue.local) ------------------------------------------

    def claim(self, worker: str, lease_s: float) -> Job | None:
        """The oldest claimable job, now running on ``worker``'s lease: one more attempt."""
        now = time.time()
        with self._db as db:
            row = db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, "
                "lease_until = ?, updated_at = ? WHERE id = "
                f"(SELECT id FROM jobs WHERE {_CLAIMABLE} ORDER BY id LIMIT 1) "
                f"RETURNING {_JOB_COLUMNS}",
                (worker, now + lease_s, now, now),
            ).fetchone()
        return None if row is None else _job(row)

    def renew(self, job_id: int, worker: str, lease_s: float) -> bool:
        """Extend ``worker``'s lease; False if the job is no longer leased to it."""
        return self._lease(job_id, worker, "lease_until = ?", time.time() + lease_s)

    def hold(self, job_id: int) -> bool:
        """The result is computed and being delivered: the lease no longer runs out."""
        with self._db as db:
            cursor = db.execute(
                "UPDATE jobs SET lease_until = NULL WHERE id = ? AND state = 'running'", (job_id,)
            )
        return cursor.rowcount == 1

    def release(self, job_id: int, worker: str) -> bool:
        """Give a claimed job back unstarted (a graceful stop): queued, the attempt undone."""
        return self._lease(
            job_id,
            worker,
            "state = 'queued', attempts = MAX(attempts - 1, 0), lease_owner = NULL, "
            "lease_until = NULL",
        )

    def expire_leases(self, job_id: int | None = None) -> int:
        """Every running lease (or job ``job_id``'s) runs out now: the process that held it
        restarted. Returns how many jobs it freed."""
        where = "state = 'running'" + ("" if job_id is None else " AND id = ?")
        args = () if job_id is None else (job_id,)
        with self._db as db:
            return db.execute(f"UPDATE jobs SET lease_until = 0 WHERE {where}", args).rowcount

    def next_expiry(self) -> float | None:
        """When the earliest running lease runs out (epoch s), if any does."""
        row = self._db.execute(
            "SELECT MIN(lease_until) FROM jobs WHERE state = 'running' AND lease_until IS NOT NULL"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def _lease(self, job_id: int, worker: str, assignments: str, *values: object) -> bool:
        with self._db as db:
            cursor = db.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? "
                "WHERE id = ? AND state = 'running' AND lease_owner = ?",
                (*values, time.time(), job_id, worker),
            )
        return cursor.rowcount == 1

    # --- answering ----------------------------------------------------------------------------

    def set_status_message(self, job_id: int, message_id: int) -> None:
        self._update(job_id, "status_message_id = ?", message_id)

    def set_result_class(self, job_id: int, result_class: str) -> None:
        """The class the sticker shows, recorded before any part is sent: a button under
        the sticker (e.g. "Add to my pack") may be pressed before the job is closed."""
        self._update(job_id, "result_class = ?", result_class)

    def finish(
        self, job_id: int, state: JobState, outcome: str, result_class: str | None = None
    ) -> None:
        """Close the job, after every part of its answer was sent (or could not be)."""
        if state not in (JobState.DONE, JobState.FAILED):
            raise ValueError(f"a job finishes as done or failed, not {state}")
        self._update(
            job_id,
            "state = ?, outcome = ?, result_class = ?, lease_owner = NULL, lease_until = NULL",
            state,
            outcome,
            result_class,
        )

    def sent_parts(self, job_id: int) -> dict[str, int | None]:
        """The parts of this job's answer already sent: part -> Telegram message id."""
        rows = self._db.execute(
            "SELECT part, message_id FROM sent WHERE job_id = ?", (job_id,)
        ).fetchall()
        return {row["part"]: row["message_id"] for row in rows}

    def record_sent(
        self, job_id: int, part: str, message_id: int | None, file_id: str | None = None
    ) -> None:
        """Remember a sent part; ``file_id`` is the sent file's (to send or use it again)."""
        with self._db as db:
            db.execute(
                "INSERT OR REPLACE INTO sent (job_id, part, message_id, file_id) "
                "VALUES (?, ?, ?, ?)",
                (job_id, part, message_id, file_id),
            )

    def sent_files(self, job_id: int) -> dict[str, str]:
        """The file_ids of this job's sent files: part ('document', 'sticker') -> file_id."""
        rows = self._db.execute(
            "SELECT part, file_id FROM sent WHERE job_id = ? AND file_id IS NOT NULL", (job_id,)
        ).fetchall()
        return {row["part"]: row["file_id"] for row in rows}

    def prune(self, older_than_s: float = RETENTION_SECONDS) -> int:
        """Forget finished jobs last touched more than ``older_than_s`` ago; returns how many."""
        with self._db as db:
            return db.execute(
                f"DELETE FROM jobs WHERE NOT {_UNFINISHED} AND updated_at < ?",
                (time.time() - older_than_s,),
            ).rowcount

    def _update(self, job_id: int, assignments: str, *values: object) -> None:
        with self._db as db:
            db.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, time.time(), job_id),
            )
