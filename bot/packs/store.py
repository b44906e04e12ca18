"""The users' packs as the bot knows them: a plain synchronous store with its own tables.

Each user's packs (numbered 1, 2, ... as each fills up), which job's sticker went into which
pack (a second press adds nothing) and the user's ``/emoji``. The async facade is
:class:`bot.journal.Journal` (``await journal.call(journal.packs.holding, ...)``).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from bot.database import Store, Table
from bot.packs.names import pack_link

# Telegram: static sticker sets hold up to 120 stickers.
MAX_STATIC_STICKERS = 120

TABLES = (
    Table(
        """
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
"""
    ),
    # Which job's sticker went into which pack. No foreign key: pruning a job must not forget
    # that its sticker is in a pack.
    Table(
        """
CREATE TABLE IF NOT EXISTS pack_stickers (
    user_id INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    pack_name TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (user_id, job_id)
);
"""
    ),
    Table(
        """
CREATE TABLE IF NOT EXISTS pack_settings (
    user_id INTEGER PRIMARY KEY,
    emoji TEXT,                           -- NULL: the emoji of each sticker's class
    updated_at REAL NOT NULL
);
"""
    ),
)


@dataclass(frozen=True, slots=True)
class Pack:
    """One of a user's sticker sets, as the bot knows it."""

    user_id: int
    number: int
    name: str
    title: str
    count: int

    @property
    def link(self) -> str:
        return pack_link(self.name)

    @property
    def full(self) -> bool:
        return self.count >= MAX_STATIC_STICKERS


_PACK_COLUMNS = "user_id, number, name, title, count"


def _pack(row: sqlite3.Row) -> Pack:
    return Pack(row["user_id"], row["number"], row["name"], row["title"], row["count"])


class PackStore(Store):
    """Every method runs on the database thread."""

    def packs(self, user_id: int) -> list[Pack]:
        """The user's packs that still exist, oldest first (the one being filled is last)."""
        rows = self._db.execute(
            f"SELECT {_PACK_COLUMNS} FROM packs WHERE user_id = ? AND NOT gone ORDER BY number",
            (user_id,),
        ).fetchall()
        return [_pack(row) for row in rows]

    def last_number(self, user_id: int) -> int:
        """The highest pack number the user had, deleted packs included (0: none yet)."""
        row = self._db.execute(
            "SELECT COALESCE(MAX(number), 0) FROM packs WHERE user_id = ?", (user_id,)
        ).fetchone()
        return int(row[0])

    def holding(self, user_id: int, job_id: int) -> Pack | None:
        """The user's pack that already has this job's sticker, if any."""
        row = self._db.execute(
            f"SELECT {', '.join('p.' + c for c in _PACK_COLUMNS.split(', '))} "
            "FROM pack_stickers s JOIN packs p ON p.name = s.pack_name "
            "WHERE s.user_id = ? AND s.job_id = ?",
            (user_id, job_id),
        ).fetchone()
        return None if row is None else _pack(row)

    def save(self, pack: Pack) -> None:
        """Remember a pack (a new one, or one's new count)."""
        with self._db as db:
            _save(db, pack)

    def created(self, pack: Pack, job_id: int) -> Pack:
        """A new pack made with this job's sticker as its first."""
        with self._db as db:
            _save(db, pack)
            _remember(db, pack, job_id)
        return pack

    def added(self, pack: Pack, job_id: int) -> Pack:
        """This job's sticker went into ``pack``: one more in it."""
        with self._db as db:
            db.execute("UPDATE packs SET count = count + 1 WHERE name = ?", (pack.name,))
            _remember(db, pack, job_id)
        return Pack(pack.user_id, pack.number, pack.name, pack.title, pack.count + 1)

    def mark_gone(self, pack: Pack) -> None:
        """Its owner deleted it: never offered or reused again (its name stays taken)."""
        with self._db as db:
            db.execute("UPDATE packs SET gone = 1 WHERE name = ?", (pack.name,))

    def emoji(self, user_id: int) -> str | None:
        """The emoji the user chose with /emoji, or None for each class's own."""
        row = self._db.execute(
            "SELECT emoji FROM pack_settings WHERE user_id = ?", (user_id,)
        ).fetchone()
        return None if row is None else row["emoji"]

    def set_emoji(self, user_id: int, emoji: str | None) -> None:
        with self._db as db:
            db.execute(
                "INSERT INTO pack_settings (user_id, emoji, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET emoji = excluded.emoji, "
                "updated_at = excluded.updated_at",
                (user_id, emoji, time.time()),
            )


def _save(db: sqlite3.Connection, pack: Pack) -> None:
    db.execute(
        "INSERT INTO packs (user_id, number, name, title, count, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, number) DO UPDATE SET "
        "count = excluded.count",
        (pack.user_id, pack.number, pack.name, pack.title, pack.count, time.time()),
    )


def _remember(db: sqlite3.Connection, pack: Pack, job_id: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO pack_stickers (user_id, job_id, pack_name, added_at) "
        "VALUES (?, ?, ?, ?)",
        (pack.user_id, job_id, pack.name, time.time()),
    )
