"""/start, /help, /class, /classes, /crf and /settings: per-chat settings, kept in SQLite.

``/class`` understands class names in the chat's language; a name it does not know gets the
closest ones as buttons ("Did you mean person?") and the list.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import choices, texts
from bot.arguments import parse_class_argument, parse_switch
from bot.services import Services
from segmentation.errors import UnknownClass

logger = logging.getLogger(__name__)

# How much of an unknown class name is repeated back to the user.
MAX_ECHO = 40


class Commands:
    def __init__(self, services: Services) -> None:
        self._journal = services.journal
        self._max_bytes = services.settings.MAX_IMAGE_BYTES
        self._classes = services.classes

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        settings = await self._journal.chat_settings(chat.id)
        await message.reply_text(
            texts.help_text(settings.target, settings.crf, self._max_bytes, settings.style)
        )

    async def classes(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(texts.classes_text(self._classes[1:]))

    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        settings = await self._journal.chat_settings(chat.id)
        await message.reply_text(texts.settings_line(settings.target, settings.crf, settings.style))

    async def set_class(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        try:
            target = parse_class_argument(
                context.args or (), texts.class_words(self._classes[1:]), self._classes
            )
        except UnknownClass as exc:
            typed = " ".join(context.args or ())[:MAX_ECHO]
            await message.reply_text(
                texts.unknown_class(typed, exc.suggestions),
                reply_markup=_suggestion_buttons(exc.suggestions),
            )
            return
        if target is None:
            await message.reply_text(texts.CLASS_USAGE)
            return
        await self._set_class(chat.id, target)
        await message.reply_text(texts.class_set(target))

    async def class_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A "Did you mean" button: set that class; the suggestion becomes the confirmation."""
        query = update.callback_query
        assert query is not None
        target = choices.decode_class(query.data, self._classes)
        message = query.message
        if target is None or message is None:
            await query.answer()
            return
        await self._set_class(message.chat.id, target)
        try:
            await query.answer()
            if isinstance(message, Message):
                await message.edit_text(texts.class_set(target))
        except TelegramError as exc:
            logger.info("could not confirm a class button: %s", exc)

    async def _set_class(self, chat_id: int, target: str) -> None:
        current = await self._journal.chat_settings(chat_id)
        await self._journal.save_chat_settings(chat_id, replace(current, target=target))

    async def set_crf(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        crf = parse_switch(context.args or ())
        if crf is None:
            await message.reply_text(texts.CRF_USAGE)
            return
        current = await self._journal.chat_settings(chat.id)
        await self._journal.save_chat_settings(chat.id, replace(current, crf=crf))
        await message.reply_text(texts.crf_set(crf))


def _suggestion_buttons(suggestions: list[str]) -> InlineKeyboardMarkup | None:
    if not suggestions:
        return None
    buttons = [
        InlineKeyboardButton(texts.class_name(name), callback_data=choices.encode_class(name))
        for name in suggestions
    ]
    return InlineKeyboardMarkup([buttons])


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    commands = Commands(services)
    return [
        CallbackQueryHandler(commands.class_button, pattern=choices.CLASS_PATTERN),
        CommandHandler(["start", "help"], commands.help),
        CommandHandler("classes", commands.classes),
        CommandHandler("settings", commands.settings),
        CommandHandler("class", commands.set_class),
        CommandHandler("crf", commands.set_crf),
    ]
