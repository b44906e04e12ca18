"""Sticker packs the bot keeps for its users: "Add to my pack", ``/pack`` and ``/emoji``.

Telegram lets a bot create sticker sets owned by a user (``createNewStickerSet``) and fill
them (``addStickerToSet``). The rules this module follows (Bot API, "Stickers"):

* a set's name is 1-64 English letters, digits and underscores, starts with a letter, has no
  two underscores in a row and ends in ``_by_<bot username>``; here it is
  ``pack_<user id>_by_<bot>`` for a user's first pack and ``pack_<user id>_<n>_by_<bot>``
  for the n-th, so names are deterministic and never collide between users;
* a static set holds at most 120 stickers: a full pack makes the next sticker start pack n+1;
* the owner must have started a private chat with the bot (else ``PEER_ID_INVALID``).

A sticker is added by the ``file_id`` Telegram gave the sticker the bot sent (no bytes move).
Should Telegram refuse that file_id, the PNG document is fetched and uploaded once with
``uploadStickerFile``. The journal's database remembers each user's packs, which job's sticker
went where (a second press adds nothing) and the user's ``/emoji``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import InputFile, InputSticker
from telegram.constants import StickerFormat
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.jobs import Journal
from bot.retry import retry_after_s

logger = logging.getLogger(__name__)

# Telegram: static sticker sets hold up to 120 stickers.
MAX_STATIC_STICKERS = 120
# Telegram: set names and titles are 1-64 characters.
MAX_NAME_CHARS = 64
MAX_TITLE_CHARS = 64
# Start of every pack name: short, so that a 16-digit user id, a pack number and a 32-letter
# bot username still fit in 64 characters.
NAME_PREFIX = "pack"
# Names taken although the bot does not know them (sets made before its database was lost) are
# skipped, the next number tried; a bounded number of times, then the user is told.
MAX_NAME_TRIES = 5
# Rounds of waiting out a 429 inside the rate limiter before the user is told to come back: one
# short flood wait is sat out, a longer one is the user's to retry (a press is not a job).
PACK_RATE_LIMIT_RETRIES = 1
PACK_LINK = "https://t.me/addstickers/{name}"
# The emoji of a sticker whose class has none (an old job without its class).
DEFAULT_EMOJI = "⭐"
# Each class's emoji: what Telegram suggests the sticker for.
CLASS_EMOJI: Mapping[str, str] = {
    "aeroplane": "✈️",
    "bicycle": "🚲",
    "bird": "🐦",
    "boat": "⛵",
    "bottle": "🍾",
    "bus": "🚌",
    "car": "🚗",
    "cat": "🐱",
    "chair": "🪑",
    "cow": "🐮",
    "diningtable": "🍽️",
    "dog": "🐶",
    "horse": "🐴",
    "motorbike": "🏍️",
    "person": "🙂",
    "pottedplant": "🪴",
    "sheep": "🐑",
    "sofa": "🛋️",
    "train": "🚆",
    "tvmonitor": "📺",
}

# How Telegram words the refusals handled here (matched case-insensitively: PTB capitalises).
_NOT_STARTED = ("peer_id_invalid", "user not found", "user_id_invalid", "bot was blocked")
_NAME_TAKEN = ("sticker set name is already occupied",)
_PACK_FULL = ("stickers_too_much",)
_PACK_GONE = ("stickerset_invalid",)
# A file_id Telegram would not take for a sticker: worth one upload of the PNG instead.
_FILE_REFUSED = ("file", "sticker_png", "image_process_failed", "wrong sticker format")

Bot = ExtBot[Any]


# --- names, titles, emoji -------------------------------------------------------------------


def is_valid_set_name(name: str, bot_username: str) -> bool:
    """Telegram's rules for a sticker set name made by ``bot_username``."""
    return (
        1 <= len(name) <= MAX_NAME_CHARS
        and name[:1].isascii()
        and name[:1].isalpha()
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        and "__" not in name
        and name.lower().endswith(f"_by_{bot_username}".lower())
    )


def set_name(user_id: int, number: int, bot_username: str) -> str:
    """The name of a user's ``number``-th pack (1, 2, ...)."""
    suffix = "" if number == 1 else f"_{number}"
    name = f"{NAME_PREFIX}_{user_id}{suffix}_by_{bot_username}"
    if not is_valid_set_name(name, bot_username):
        raise ValueError(f"no valid sticker set name for user {user_id}: {name!r}")
    return name


def set_title(first_name: str, number: int) -> str:
    """The pack's title: Ann's stickers, Ann's stickers 2 ... within 64 characters."""
    suffix = "'s stickers" + ("" if number == 1 else f" {number}")
    owner = " ".join(first_name.split())[: MAX_TITLE_CHARS - len(suffix)].strip()
    return owner + suffix if owner else "My stickers" + suffix.removeprefix("'s stickers")


def pack_link(name: str) -> str:
    return PACK_LINK.format(name=name)


def class_emoji(target: str | None) -> str:
    return CLASS_EMOJI.get(target or "", DEFAULT_EMOJI)


# Code points that only modify or join emoji: variation selector 16, zero-width joiner,
# combining keycap, skin tones, and the tag characters of subdivision flags.
_VS16, _ZWJ, _KEYCAP = 0xFE0F, 0x200D, 0x20E3
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_REGIONAL = range(0x1F1E6, 0x1F200)
# Where emoji live: pictographs, symbols, dingbats, arrows, and the few older single symbols.
_EMOJI_RANGES = (
    range(0x1F000, 0x1FB00),
    range(0x2600, 0x27C0),
    range(0x2300, 0x2400),
    range(0x2B00, 0x2C00),
    range(0x2190, 0x2200),
    range(0x2900, 0x2980),
    range(0x25A0, 0x2600),
)
_EMOJI_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D})
_EMOJI_SINGLES |= {0x3297, 0x3299}
# The longest single emoji (family ZWJ sequences with skin tones) are about 10 code points.
MAX_EMOJI_CODE_POINTS = 16


def _pictographic(point: int) -> bool:
    return point in _EMOJI_SINGLES or any(point in r for r in _EMOJI_RANGES)


def parse_emoji(text: str) -> str | None:
    """``text`` if it is exactly one emoji (with its modifiers and joins), else None."""
    text = text.strip()
    points = [ord(c) for c in text]
    if not points or len(points) > MAX_EMOJI_CODE_POINTS:
        return None
    if len(points) == 2 and all(p in _REGIONAL for p in points):  # a flag
        return text
    if text[0] in "0123456789#*" and points[-1] == _KEYCAP and points[1:-1] in ([], [_VS16]):
        return text
    for part in _split(points, _ZWJ):
        if not part or not _pictographic(part[0]) or part[0] in _REGIONAL:
            return None
        if any(p != _VS16 and p not in _SKIN_TONES and p not in _TAGS for p in part[1:]):
            return None
    return text


def _split(points: list[int], separator: int) -> list[list[int]]:
    parts: list[list[int]] = [[]]
    for point in points:
        if point == separator:
            parts.append([])
        else:
            parts[-1].append(point)
    return parts


# --- the store ------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class StickerSource:
    """What a job's "Add to my pack" button needs: where it was, its class, its files."""

    chat_id: int
    target: str | None
    sticker_file_id: str | None
    document_file_id: str | None


_PACK_COLUMNS = "user_id, number, name, title, count"


def _pack(row: sqlite3.Row) -> Pack:
    return Pack(row["user_id"], row["number"], row["name"], row["title"], row["count"])


class PackStore:
    """The users' packs, in the journal's database (tables defined in :mod:`bot.jobs`)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    async def packs(self, user_id: int) -> list[Pack]:
        """The user's packs that still exist, oldest first (the one being filled is last)."""

        def read(db: sqlite3.Connection) -> list[Pack]:
            rows = db.execute(
                f"SELECT {_PACK_COLUMNS} FROM packs WHERE user_id = ? AND NOT gone ORDER BY number",
                (user_id,),
            ).fetchall()
            return [_pack(row) for row in rows]

        return await self._journal.run(read)

    async def last_number(self, user_id: int) -> int:
        """The highest pack number the user had, deleted packs included (0: none yet)."""

        def read(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT COALESCE(MAX(number), 0) FROM packs WHERE user_id = ?", (user_id,)
            ).fetchone()
            return int(row[0])

        return await self._journal.run(read)

    async def holding(self, user_id: int, job_id: int) -> Pack | None:
        """The user's pack that already has this job's sticker, if any."""

        def read(db: sqlite3.Connection) -> Pack | None:
            row = db.execute(
                f"SELECT {', '.join('p.' + c for c in _PACK_COLUMNS.split(', '))} "
                "FROM pack_stickers s JOIN packs p ON p.name = s.pack_name "
                "WHERE s.user_id = ? AND s.job_id = ?",
                (user_id, job_id),
            ).fetchone()
            return None if row is None else _pack(row)

        return await self._journal.run(read)

    async def source(self, job_id: int) -> StickerSource | None:
        """The job's chat, class and sent files; None once the job is forgotten."""

        def read(db: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = db.execute(
                "SELECT chat_id, result_class FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            return row

        job = await self._journal.run(read)
        if job is None:
            return None
        files = await self._journal.sent_files(job_id)
        return StickerSource(
            job["chat_id"], job["result_class"], files.get("sticker"), files.get("document")
        )

    async def save(self, pack: Pack) -> None:
        """Remember a pack (a new one, or one's new count)."""

        def write(db: sqlite3.Connection) -> None:
            with db:
                _save(db, pack)

        await self._journal.run(write)

    async def created(self, pack: Pack, job_id: int) -> Pack:
        """A new pack made with this job's sticker as its first."""

        def write(db: sqlite3.Connection) -> Pack:
            with db:
                _save(db, pack)
                _remember(db, pack, job_id)
            return pack

        return await self._journal.run(write)

    async def added(self, pack: Pack, job_id: int) -> Pack:
        """This job's sticker went into ``pack``: one more in it."""
        grown = Pack(pack.user_id, pack.number, pack.name, pack.title, pack.count + 1)

        def write(db: sqlite3.Connection) -> Pack:
            with db:
                db.execute("UPDATE packs SET count = count + 1 WHERE name = ?", (pack.name,))
                _remember(db, pack, job_id)
            return grown

        return await self._journal.run(write)

    async def mark_gone(self, pack: Pack) -> None:
        """Its owner deleted it: never offered or reused again (its name stays taken)."""

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("UPDATE packs SET gone = 1 WHERE name = ?", (pack.name,))

        await self._journal.run(write)

    async def emoji(self, user_id: int) -> str | None:
        """The emoji the user chose with /emoji, or None for each class's own."""

        def read(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT emoji FROM pack_settings WHERE user_id = ?", (user_id,)
            ).fetchone()
            return None if row is None else row["emoji"]

        return await self._journal.run(read)

    async def set_emoji(self, user_id: int, emoji: str | None) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT INTO pack_settings (user_id, emoji, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (user_id) DO UPDATE SET emoji = excluded.emoji, "
                    "updated_at = excluded.updated_at",
                    (user_id, emoji, time.time()),
                )

        await self._journal.run(write)


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


# --- adding a sticker -----------------------------------------------------------------------


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


class _File:
    """The sticker file to add: a file_id, switched once to an upload of the PNG if refused."""

    def __init__(self, source: StickerSource) -> None:
        self.file_id = source.sticker_file_id or source.document_file_id
        self.document_file_id = source.document_file_id
        self.uploaded = False


class PackMaker:
    """Adds stickers to users' packs; one press per user at a time."""

    def __init__(self, store: PackStore) -> None:
        self.store = store
        # Two presses of one user (two chats) must not both create "pack 1".
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def add(
        self, bot: Bot, *, user_id: int, first_name: str, job_id: int, chat_id: int
    ) -> AddResult:
        """Add job ``job_id``'s sticker (pressed in ``chat_id``) to the user's pack."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            source = await self.store.source(job_id)
            if source is None or source.chat_id != chat_id:
                return AddResult(Outcome.EXPIRED)
            already = await self.store.holding(user_id, job_id)
            if already is not None:
                return AddResult(Outcome.ALREADY, already)
            file = _File(source)
            if file.file_id is None:
                return AddResult(Outcome.EXPIRED)
            emoji = await self.store.emoji(user_id) or class_emoji(source.target)
            try:
                return await self._place(bot, user_id, first_name, job_id, file, emoji)
            except RetryAfter as exc:
                logger.info("flood control on user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.FLOOD, retry_after_s=retry_after_s(exc))
            except (BadRequest, Forbidden) as exc:
                if _says(exc, _NOT_STARTED):
                    return AddResult(Outcome.NOT_STARTED)
                logger.warning("Telegram refused user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.FAILED)
            except NetworkError as exc:
                logger.warning("could not reach Telegram for user %d's pack: %s", user_id, exc)
                return AddResult(Outcome.UNREACHABLE)

    async def _place(
        self, bot: Bot, user_id: int, first_name: str, job_id: int, file: _File, emoji: str
    ) -> AddResult:
        packs = await self.store.packs(user_id)
        current = packs[-1] if packs else None
        full: Pack | None = None
        if current is not None and current.full:
            full = current
        elif current is not None:
            pack = current
            try:
                await self._with_file(
                    bot, user_id, file, functools.partial(_add_to_set, bot, pack, emoji)
                )
            except BadRequest as exc:
                if _says(exc, _PACK_FULL):  # filled outside the bot (e.g. with @Stickers)
                    full = Pack(user_id, pack.number, pack.name, pack.title, MAX_STATIC_STICKERS)
                    await self.store.save(full)
                elif _says(exc, _PACK_GONE):  # its owner deleted it
                    logger.info("user %d's pack %s is gone; starting another", user_id, pack.name)
                    await self.store.mark_gone(pack)
                else:
                    raise
            else:
                return AddResult(Outcome.ADDED, await self.store.added(pack, job_id))
        return await self._create(bot, user_id, first_name, job_id, file, emoji, full)

    async def _create(
        self,
        bot: Bot,
        user_id: int,
        first_name: str,
        job_id: int,
        file: _File,
        emoji: str,
        full: Pack | None,
    ) -> AddResult:
        number = await self.store.last_number(user_id) + 1
        for _ in range(MAX_NAME_TRIES):
            pack = Pack(
                user_id,
                number,
                set_name(user_id, number, bot.username),
                set_title(first_name, number),
                1,
            )
            try:
                await self._with_file(
                    bot, user_id, file, functools.partial(_create_set, bot, pack, emoji)
                )
            except BadRequest as exc:
                if not _says(exc, _NAME_TAKEN):
                    raise
                logger.warning("sticker set name %s is taken; trying the next", pack.name)
                number += 1
                continue
            await self.store.created(pack, job_id)
            outcome = Outcome.CREATED if full is None else Outcome.STARTED_NEXT
            return AddResult(outcome, pack, full)
        logger.error("user %d: %d pack names in a row were taken", user_id, MAX_NAME_TRIES)
        return AddResult(Outcome.FAILED)

    async def _with_file(
        self, bot: Bot, user_id: int, file: _File, call: Callable[[str], Awaitable[bool]]
    ) -> None:
        """``call(file_id)``; if Telegram refuses the file_id, once more with an upload."""
        assert file.file_id is not None
        try:
            await call(file.file_id)
        except BadRequest as exc:
            if file.uploaded or file.document_file_id is None or not _says(exc, _FILE_REFUSED):
                raise
            logger.info("sticker file_id refused (%s); uploading the PNG instead", exc)
            file.file_id = await _upload(bot, user_id, file.document_file_id)
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


def _says(error: TelegramError, fragments: tuple[str, ...]) -> bool:
    text = error.message.lower()
    return any(fragment in text for fragment in fragments)
