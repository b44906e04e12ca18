"""The bot's one SQLite database: the connection, its thread, and the schema of every store.

Each store declares its own tables (:class:`Table`: the ``CREATE TABLE`` statement, and the
columns added since the table first shipped); :class:`Database` owns the connection and
applies every declaration when it opens the file -- creating what is missing and adding the
columns an older file lacks -- so no store knows another's tables and no version number has
to be agreed between them.

Stores are plain synchronous classes over a :class:`sqlite3.Connection`. sqlite3 is
synchronous: one dedicated thread owns the connection, and :meth:`Database.call` runs a
store's method on it, so the event loop never waits on the disk and no two statements
interleave.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# Files written by this version carry it in ``PRAGMA user_version``; a newer file is refused.
# 3: chat languages; 4: outline styles; 5: job leases (bot.queue).
SCHEMA_VERSION = 5
# Waiting for a lock beyond this means something else holds the database: fail loudly.
BUSY_TIMEOUT_S = 5.0
_TABLE_NAME = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


@dataclass(frozen=True, slots=True)
class Table:
    """One table as a store declares it.

    ``create``: its ``CREATE TABLE IF NOT EXISTS`` statement (plus its indexes);
    ``added``: column name -> definition, for columns added after the table first shipped
    (an older file gains them with ``ALTER TABLE ... ADD COLUMN``).
    """

    create: str
    added: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        match = _TABLE_NAME.search(self.create)
        if match is None:
            raise ValueError(f"not a CREATE TABLE IF NOT EXISTS statement: {self.create[:60]!r}")
        return match.group(1)


class Store:
    """Base of the synchronous stores: the connection, read on the database thread."""

    def __init__(self, connection: Callable[[], sqlite3.Connection]) -> None:
        self._connection = connection

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connection()


def apply_schema(conn: sqlite3.Connection, tables: Iterable[Table]) -> None:
    """Create missing tables and add missing columns (in one transaction)."""
    with conn:
        for table in tables:
            conn.executescript(table.create)
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")}
            for column, definition in table.added:
                if column not in present:
                    logger.info("database: adding %s.%s", table.name, column)
                    conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {column} {definition}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Database:
    """The connection (on its own thread) and the tables of every store that uses it."""

    def __init__(self, path: Path, tables: Iterable[Table]) -> None:
        self.path = path
        self._tables = tuple(tables)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database")
        self._conn: sqlite3.Connection | None = None

    @property
    def open(self) -> bool:
        return self._conn is not None

    async def connect(self) -> None:
        """Open (creating if needed) the file, with every declared table and column."""
        await self._run(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._run(conn.close)
        self._executor.shutdown(wait=True)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the database thread (a store's synchronous method)."""
        return await self._run(lambda: fn(*args, **kwargs))

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection; use it only on the database thread (inside :meth:`call`)."""
        if self._conn is None:
            raise RuntimeError("the database is closed")
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
        apply_schema(conn, self._tables)
        self._conn = conn

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
