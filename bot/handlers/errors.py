"""The one error handler: log with traceback, and tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import texts
from bot.results import ErrorKind

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("error while handling update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_message is None:
        return
    try:
        await update.effective_message.reply_text(texts.ERROR_TEXTS[ErrorKind.INTERNAL])
    except TelegramError as exc:
        logger.warning("could not tell the user about the error either: %s", exc)
