"""The journal: the bot's record of truth, one async facade over its synchronous stores.

Every store (jobs and their answers, chat settings, sticker packs) is a plain synchronous
class that declares its own tables; :class:`Journal` opens the one
:class:`~bot.database.Database` they share and runs their methods on its thread. The common
calls have a method here; any other store method is one ``await journal.call(store.method,
...)`` away (typed: ``call`` keeps the method's signature), e.g. ``journal.jobs.accept``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from bot import chats, jobs
from bot.chats import ChatSettings, ChatStore
from bot.database import Database
from bot.jobs import Counts, Job, JobState, JobStore
from bot.packs import store as pack_store

T = TypeVar("T")
P = ParamSpec("P")


class Journal:
    """Async facade over one SQLite file: :meth:`open` it (or :meth:`connect`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.database = Database(path, (*jobs.TABLES, *chats.TABLES, *pack_store.TABLES))
        connection = lambda: self.database.connection  # noqa: E731 - read on the db thread
        self.jobs = JobStore(connection)
        self.chats = ChatStore(connection)
        self.packs = pack_store.PackStore(connection)

    @classmethod
    async def open(cls, path: Path) -> Journal:
        journal = cls(path)
        await journal.connect()
        return journal

    async def connect(self) -> None:
        await self.database.connect()

    async def close(self) -> None:
        await self.database.close()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A store's method, run on the database thread."""
        return await self.database.call(fn, *args, **kwargs)

    # --- jobs ---------------------------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        return await self.call(self.jobs.get, job_id)

    async def unfinished(self) -> list[Job]:
        return await self.call(self.jobs.unfinished)

    async def counts(self) -> Counts:
        return await self.call(self.jobs.counts)

    async def claim(self, worker: str, lease_s: float) -> Job | None:
        return await self.call(self.jobs.claim, worker, lease_s)

    async def sharing_status(self, job: Job) -> list[tuple[int, JobState]]:
        return await self.call(self.jobs.sharing_status, job)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        await self.call(self.jobs.set_status_message, job_id, message_id)

    async def set_result_class(self, job_id: int, result_class: str) -> None:
        await self.call(self.jobs.set_result_class, job_id, result_class)

    async def finish(
        self, job_id: int, state: JobState, outcome: str, result_class: str | None = None
    ) -> None:
        await self.call(self.jobs.finish, job_id, state, outcome, result_class)

    async def sent_parts(self, job_id: int) -> dict[str, int | None]:
        return await self.call(self.jobs.sent_parts, job_id)

    async def record_sent(
        self, job_id: int, part: str, message_id: int | None, file_id: str | None = None
    ) -> None:
        await self.call(self.jobs.record_sent, job_id, part, message_id, file_id)

    async def sent_files(self, job_id: int) -> dict[str, str]:
        return await self.call(self.jobs.sent_files, job_id)

    async def prune(self, older_than_s: float = jobs.RETENTION_SECONDS) -> int:
        return await self.call(self.jobs.prune, older_than_s)

    # --- chat settings ------------------------------------------------------------------------

    async def chat_settings(self, chat_id: int) -> ChatSettings:
        return await self.call(self.chats.get, chat_id)

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        await self.call(self.chats.save, chat_id, settings)
