"""The "tap a class" buttons offered when the asked-for object was not in the photo."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot import choices, texts
from bot.jobs import Refusal
from bot.services import Services

logger = logging.getLogger(__name__)


class Callbacks:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def pick(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        choice = choices.decode(query.data, self._services.classes)
        original = None if choice is None else await self._services.journal.get(choice.job_id)
        message = query.message
        if (
            choice is None
            or original is None
            or not isinstance(message, Message)
            or original.chat_id != message.chat.id
        ):
            await query.answer(texts.CHOICE_EXPIRED, show_alert=True)
            return
        admission = await self._services.intake.admit(
            chat_id=original.chat_id,
            user_id=query.from_user.id,
            message_id=original.message_id,
            file_id=original.file_id,
            target=choice.target,
            crf=original.crf,
            style=original.style,
        )
        if admission.refused is not None:
            text = (
                texts.busy()
                if admission.refused is Refusal.BUSY
                else texts.too_many_pending(self._services.settings.MAX_PENDING_PER_USER)
            )
            await query.answer(text, show_alert=True)
            return
        job = admission.job
        assert job is not None
        if admission.duplicate:
            await query.answer(texts.CHOICE_DUPLICATE)
            return
        status_id = None
        try:
            await query.answer()
            # The buttons go away; this message becomes the job's status, edited when done.
            await message.edit_text(texts.making(choice.target, job.id))
            status_id = message.message_id
        except TelegramError as exc:
            logger.info("could not update the choice message of job %d: %s", job.id, exc)
        finally:
            await self._services.intake.enqueue(job, status_id)


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    # No pattern: a button we did not make (or an old one) still gets an answer.
    return [CallbackQueryHandler(Callbacks(services).pick)]
