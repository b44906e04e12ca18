"""Adding a job's sticker to its user's pack: "Add to my pack".

Telegram lets a bot create sticker sets owned by a user (``createNewStickerSet``) and fill
them (``addStickerToSet``); the owner must have started a private chat with the bot. A static
set holds 120 stickers: a full pack makes the next sticker start pack n+1. A sticker is added
by the ``file_id`` Telegram gave the sticker the bot sent (no bytes move); should Telegram
refuse that file_id, the PNG document is fetched and uploaded once with ``uploadStickerFile``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from telegram import InputFile, InputSticker
from telegram.constants import StickerFormat
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot

from bot.packs.emoji import class_emoji
from bot.packs.names import set_name, set_title
from bot.packs.store import MAX_STATIC_STICKERS, Pack
from bot.refusals import Refused, classify
from bot.retry import retry_after_s

if TYPE_CHECKING:
    from bot.journal import Journal

logger = logging.getLogger(__name__)

# Names taken although the bot does not know them (sets made before its database was lost) are
# skipped, the next number tried; a bounded number of times, then the user is told.
MAX_NAME_TRIES = 5
# Rounds of waiting out a 429 inside the rate limiter before the user is told to come back: one
# short flood wait is sat out, a longer one is the user's to retry (a press is not a job).
PACK_RATE_LIMIT_RETRIES = 1

Bot = ExtBot[Any]


class Outcome(StrEnum):
    """How a press of "Add to my pack" ended."""

    CREATED = "created"  # the user's first pack (or a new one after theirs was deleted)
    ADDED = "added"
    STARTED_NEXT = "started_next"  # the pack was full: the sticker opened the next one
    ALREADY = "already"  # pressed before: nothing added
    EXPIRED = "expired"  # the job (or its files) is no longer known
    NOT_STARTED = "not_started"  # the user has not started a private chat with the bot
    FLOOD = "flood"  # Telegram's flood control: try again later
    UNREACHABLE = "unreachable"  # network trouble talking to Telegram
    FAILED = "failed"  # anything else Telegram refused


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: Outcome
    pack: Pack | None = None
    # For STARTED_NEXT: the pack that was full.
    full: Pack | None = None
    retry_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StickerSource:
    """What a job's "Add to my pack" button needs: where it was, its class, its files."""

    chat_id: int
    target: str | None
    sticker_file_id: str | None
    document_file_id: str | None


class _File:
    """The sticker file to add: a file_id, switched once to an upload of the PNG if refused."""

    def __init__(self, source: StickerSource) -> None:
        self.file_id = source.sticker_file_id or source.document_file_id
        self.document_file_id = source.document_file_id
        self.uploaded = False


@dataclass(frozen=True, slots=True)
class _Press:
    """One press: who, for which job, with what file and emoji."""

    bot: Bot
    user_id: int
    first_name: str
    job_id: int
    file: _File
    emoji: str


class PackMaker:
    """Adds stickers to users' packs; one press per user at a time."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._store = journal.packs
        # Two presses of one user (two chats) must not both create "pack 1".
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def packs(self, user_id: int) -> list[Pack]:
        return await self._journal.call(self._store.packs, user_id)

    async def emoji(self, user_id: int) -> str | None:
        return await self._journal.call(self._store.emoji, user_id)

    async def set_emoji(self, user_id: int, emoji: str | None) -> None:
        await self._journal.call(self._store.set_emoji, user_id, emoji)

    async def source(self, job_id: int) -> StickerSource | None:
        """The job's chat, class and sent files; None once the job is forgotten."""
        found = await self._journal.call(self._journal.jobs.result_of, job_id)
        if found is None:
            return None
        files = await self._journal.sent_files(job_id)
        return StickerSource(found[0], found[1], files.get("sticker"), files.get("document"))

    async def add(
        self, bot: Bot, *, user_id: int, first_name: str, job_id: int, chat_id: int
    ) -> AddResult:
        """Add job ``job_id``'s sticker (pressed in ``chat_id``) to the user's pack."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            source = await self.source(job_id)
            if source is None or source.chat_id != chat_id:
                return AddResult(Outcome.EXPIRED)
            already = await self._journal.call(self._store.holding, user_id, job_id)
            if already is not None:
                return AddResult(Outcome.ALREADY, already)
            file = _File(source)
            if file.file_id is None:
                return AddResult(Outcome.EXPIRED)
            emoji = await self.emoji(user_id) or class_emoji(source.target)
            press = _Press(bot, user_id, first_name, job_id, file, emoji)
            try:
                return await self._place(press)
            except RetryAfter as exc:
                logger.info("flood control on user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.FLOOD, retry_after_s=retry_after_s(exc))
            except (BadRequest, Forbidden) as exc:
                if classify(exc) in (Refused.NOT_STARTED, Refused.CHAT_GONE):
                    return AddResult(Outcome.NOT_STARTED)
                logger.warning("Telegram refused user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.FAILED)
            except NetworkError as exc:
                logger.warning("could not reach Telegram for user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.UNREACHABLE)

    async def _place(self, press: _Press) -> AddResult:
        """Into the pack being filled; a new one when there is none, it is full or gone."""
        packs = await self.packs(press.user_id)
        current = packs[-1] if packs else None
        if current is None:
            return await self._create(press, None)
        if current.full:
            return await self._create(press, current)
        add = functools.partial(_add_to_set, press.bot, current, press.emoji)
        try:
            await self._with_file(press, add)
        except BadRequest as exc:
            return await self._after_refused_add(press, current, exc)
        grown = await self._journal.call(self._store.added, current, press.job_id)
        return AddResult(Outcome.ADDED, grown)

    async def _after_refused_add(self, press: _Press, pack: Pack, exc: BadRequest) -> AddResult:
        refused = classify(exc)
        if refused is Refused.SET_FULL:  # filled outside the bot (e.g. with @Stickers)
            full = Pack(pack.user_id, pack.number, pack.name, pack.title, MAX_STATIC_STICKERS)
            await self._journal.call(self._store.save, full)
            return await self._create(press, full)
        if refused is Refused.SET_GONE:  # its owner deleted it
            logger.info("user %d's pack %s is gone; starting another", pack.user_id, pack.name)
            await self._journal.call(self._store.mark_gone, pack)
            return await self._create(press, None)
        raise exc

    async def _create(self, press: _Press, full: Pack | None) -> AddResult:
        user_id = press.user_id
        number = await self._journal.call(self._store.last_number, user_id) + 1
        for _ in range(MAX_NAME_TRIES):
            pack = Pack(
                user_id,
                number,
                set_name(user_id, number, press.bot.username),
                set_title(press.first_name, number),
                1,
            )
            create = functools.partial(_create_set, press.bot, pack, press.emoji)
            try:
                await self._with_file(press, create)
            except BadRequest as exc:
                if classify(exc) is not Refused.NAME_TAKEN:
                    raise
                logger.warning("sticker set name %s is taken; trying the next", pack.name)
                number += 1
                continue
            await self._journal.call(self._store.created, pack, press.job_id)
            outcome = Outcome.CREATED if full is None else Outcome.STARTED_NEXT
            return AddResult(outcome, pack, full)
        logger.error("user %d: %d pack names in a row were taken", user_id, MAX_NAME_TRIES)
        return AddResult(Outcome.FAILED)

    async def _with_file(self, press: _Press, call: Callable[[str], Awaitable[bool]]) -> None:
        """``call(file_id)``; if Telegram refuses the file_id, once more with an upload."""
        file = press.file
        assert file.file_id is not None
        try:
            await call(file.file_id)
        except BadRequest as exc:
            if (
                file.uploaded
                or file.document_file_id is None
                or classify(exc) is not Refused.FILE_REFUSED
            ):
                raise
            logger.info("sticker file_id refused (%s); uploading the PNG instead", exc)
            file.file_id = await _upload(press.bot, press.user_id, file.document_file_id)
            file.uploaded = True
            await call(file.file_id)


async def _upload(bot: Bot, user_id: int, document_file_id: str) -> str:
    """Fetch the sent PNG and upload it as a sticker file; its new file_id."""
    found = await bot.get_file(document_file_id, rate_limit_args=PACK_RATE_LIMIT_RETRIES)
    data = bytes(await found.download_as_bytearray())
    uploaded = await bot.upload_sticker_file(
        user_id,
        InputFile(data, filename="sticker.png"),
        StickerFormat.STATIC,
        rate_limit_args=PACK_RATE_LIMIT_RETRIES,
    )
    return uploaded.file_id


async def _add_to_set(bot: Bot, pack: Pack, emoji: str, file_id: str) -> bool:
    return await bot.add_sticker_to_set(
        pack.user_id,
        pack.name,
        _input_sticker(file_id, emoji),
        rate_limit_args=PACK_RATE_LIMIT_RETRIES,
    )


async def _create_set(bot: Bot, pack: Pack, emoji: str, file_id: str) -> bool:
    return await bot.create_new_sticker_set(
        pack.user_id,
        pack.name,
        pack.title,
        [_input_sticker(file_id, emoji)],
        rate_limit_args=PACK_RATE_LIMIT_RETRIES,
    )


def _input_sticker(file_id: str, emoji: str) -> InputSticker:
    return InputSticker(file_id, [emoji], StickerFormat.STATIC)
