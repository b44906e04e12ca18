"""The chat's language: set for every update before any handler speaks, and ``/lang``.

A chat speaks what it chose with ``/lang`` (kept with its other settings), else the
``language_code`` Telegram sends with the user, else English. The code last seen is kept
too: the answers of queued jobs (sent by the worker, outside any update) use it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from bot import i18n, texts
from bot.services import Services

logger = logging.getLogger(__name__)

# The callback data of the /lang buttons: ``lang:<code>``.
LANG_PATTERN = r"^lang:"
_LANG = re.compile(r"lang:([a-z]{2,3}(?:_[a-z0-9]{2,8})?)")
# The group of the handler that sets the language: before every other handler.
GROUP = -1


class Language:
    def __init__(self, services: Services) -> None:
        self._journal = services.journal

    async def apply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update: speak the chat's language from here on (and note Telegram's)."""
        chat, user = update.effective_chat, update.effective_user
        code = user.language_code if user is not None else None
        if chat is None:
            i18n.set_language(i18n.resolve(None, code))
            return
        settings = await self._journal.chat_settings(chat.id)
        if code and code != settings.telegram_language:
            settings = replace(settings, telegram_language=code)
            await self._journal.save_chat_settings(chat.id, settings)
        i18n.set_language(i18n.resolve(settings.language, code or settings.telegram_language))

    async def lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/lang``: the language buttons; ``/lang ru`` (or ``/lang русский``) sets it."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        argument = " ".join(context.args or ()).strip()
        if not argument:
            await message.reply_text(
                texts.lang_menu(i18n.language_name(i18n.current())), reply_markup=_buttons()
            )
            return
        language = _parse_language(argument)
        if language is None:
            await message.reply_text(texts.lang_unknown(argument, i18n.languages()))
            return
        await self._choose(chat.id, language)
        await message.reply_text(texts.lang_set())

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A /lang button: set the language, and the menu becomes the confirmation."""
        query = update.callback_query
        assert query is not None
        match = _LANG.fullmatch(query.data or "")
        message = query.message
        if match is None or match.group(1) not in i18n.languages() or message is None:
            await query.answer()
            return
        await self._choose(message.chat.id, match.group(1))
        try:
            await query.answer()
            if isinstance(message, Message):
                await message.edit_text(texts.lang_set())
        except TelegramError as exc:
            logger.info("could not confirm a language button: %s", exc)

    async def _choose(self, chat_id: int, language: str) -> None:
        current = await self._journal.chat_settings(chat_id)
        await self._journal.save_chat_settings(chat_id, replace(current, language=language))
        i18n.set_language(language)


def _parse_language(text: str) -> str | None:
    """A language code ("ru", "pt-BR") or a spoken language's own name ("Русский")."""
    found = i18n.negotiate(text)
    if found is not None:
        return found
    wanted = text.casefold()
    return next((c for c in i18n.languages() if i18n.language_name(c).casefold() == wanted), None)


def _buttons() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(i18n.language_name(code), callback_data=f"lang:{code}")
        for code in i18n.languages()
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def early_handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    """Registered in :data:`GROUP`, before every other handler."""
    return [TypeHandler(Update, Language(services).apply)]


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    language = Language(services)
    return [
        CommandHandler("lang", language.lang),
        CallbackQueryHandler(language.press, pattern=LANG_PATTERN),
    ]
