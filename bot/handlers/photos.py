"""Photos and image files become jobs; every other kind of message gets a short explanation.

Sizes are checked from ``file_size`` before anything is downloaded: Telegram will not hand
bots files above 20 MB, and ``MAX_IMAGE_BYTES`` may be lower still.

Photos sent together as an album arrive as one message each, sharing a ``media_group_id``;
one chat's updates are handled in order, so the first photo's "Queued" message is out when
the second arrives: that one message becomes the album's status, updated as photos join,
and each photo still gets its own sticker, in order.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, ContextTypes, MessageHandler, filters

from bot import texts
from bot.jobs import Refusal
from bot.services import Services

logger = logging.getLogger(__name__)

# Image files we take as documents (lossless input makes better stickers). GIFs are left
# out: Telegram turns them into animations, and a sticker needs one still frame.
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
IMAGE_FILES = functools.reduce(
    operator.or_, (filters.Document.MimeType(mime) for mime in IMAGE_MIME_TYPES)
)
MOVING = filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE | filters.Sticker.ALL
# Albums whose status message is remembered (the oldest is forgotten first): an album's
# photos arrive within a second or so, far fewer than this many albums apart.
MAX_ALBUMS = 1024


@dataclass(slots=True)
class Album:
    """The shared status message of one album, and the jobs it has so far."""

    status_id: int
    first_job: int
    last_job: int
    count: int = 1


class Photos:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._max_bytes = services.settings.MAX_IMAGE_BYTES
        # (chat id, media_group_id) -> its status message.
        self._albums: OrderedDict[tuple[int, str], Album] = OrderedDict()
        # Albums of which a photo was refused (busy, too many waiting): said once.
        self._refused_albums: OrderedDict[tuple[int, str], None] = OrderedDict()

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        if message.photo:
            largest = message.photo[-1]
            file_id, size = largest.file_id, largest.file_size
        else:
            assert message.document is not None
            file_id, size = message.document.file_id, message.document.file_size
        if size is not None and size > self._max_bytes:
            self._services.stats.reject("too_large")
            await message.reply_text(texts.too_large(size, self._max_bytes))
            return
        await self._accept(message, file_id)

    async def _accept(self, message: Message, file_id: str) -> None:
        services, chat, user = self._services, message.chat, message.from_user
        user_id = user.id if user is not None else chat.id
        settings = await services.journal.chat_settings(chat.id)
        admission = await services.intake.admit(
            chat_id=chat.id,
            user_id=user_id,
            message_id=message.message_id,
            file_id=file_id,
            target=settings.target,
            crf=settings.crf,
            style=settings.style,
        )
        if admission.refused is not None and self._refusal_said(message):
            return  # an album: one "busy" or "too many" for it, not one per photo
        if admission.refused is Refusal.BUSY:
            await message.reply_text(texts.busy())
            return
        if admission.refused is Refusal.USER_LIMIT:
            await message.reply_text(texts.too_many_pending(services.settings.MAX_PENDING_PER_USER))
            return
        job = admission.job
        assert job is not None
        if admission.duplicate:
            logger.info("update for job %d delivered again; already handled", job.id)
            return
        status_id = await self._album_status(message, job.id)
        if status_id is None:
            try:
                status = await message.reply_text(texts.queued(job.id, admission.ahead))
                status_id = status.message_id
            except TelegramError as exc:
                # The job is accepted all the same: its answer will come without the "Queued".
                logger.warning("could not say job %d is queued: %s", job.id, exc)
            self._remember_album(message, job.id, status_id)
        await services.intake.enqueue(job, status_id)

    async def _album_status(self, message: Message, job_id: int) -> int | None:
        """The status message of the album this photo belongs to, updated to count it; None
        for a photo on its own or the first of an album."""
        if message.media_group_id is None:
            return None
        album = self._albums.get((message.chat.id, message.media_group_id))
        if album is None:
            return None
        album.count += 1
        album.last_job = job_id
        try:
            await message.get_bot().edit_message_text(
                texts.queued_album(album.first_job, album.last_job, album.count),
                message.chat.id,
                album.status_id,
            )
        except TelegramError as exc:
            logger.info("could not update the status of an album: %s", exc)
        return album.status_id

    def _refusal_said(self, message: Message) -> bool:
        """Whether another photo of this album was already refused (and told so); notes
        that this one is."""
        if message.media_group_id is None:
            return False
        key = (message.chat.id, message.media_group_id)
        said = key in self._refused_albums
        self._refused_albums[key] = None
        _bound(self._refused_albums)
        return said

    def _remember_album(self, message: Message, job_id: int, status_id: int | None) -> None:
        if message.media_group_id is None or status_id is None:
            return
        self._albums[(message.chat.id, message.media_group_id)] = Album(status_id, job_id, job_id)
        _bound(self._albums)

    async def not_an_image(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._explain(update, "not_image", texts.NOT_AN_IMAGE)

    async def not_a_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._explain(update, "not_photo", texts.NOT_A_PHOTO)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._explain(update, None, texts.UNKNOWN_COMMAND)

    async def anything_else(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._explain(update, None, texts.TEXT_ONLY)

    async def _explain(self, update: Update, reason: str | None, text: str) -> None:
        if reason is not None:
            self._services.stats.reject(reason)
        assert update.effective_message is not None
        try:
            await update.effective_message.reply_text(text)
        except TelegramError as exc:
            logger.warning("could not answer a message: %s", exc)


def _bound(albums: OrderedDict[tuple[int, str], Any]) -> None:
    """Forget the oldest albums beyond :data:`MAX_ALBUMS`."""
    while len(albums) > MAX_ALBUMS:
        albums.popitem(last=False)


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    photos = Photos(services)
    # In a group, only photos and commands are for the bot: a PDF or a chat line is not.
    private = filters.ChatType.PRIVATE
    return [
        MessageHandler(filters.PHOTO | IMAGE_FILES, photos.photo),
        MessageHandler(filters.COMMAND, photos.unknown_command),
        MessageHandler(private & filters.Document.ALL, photos.not_an_image),
        MessageHandler(private & MOVING, photos.not_a_photo),
        MessageHandler(private, photos.anything_else),
    ]
