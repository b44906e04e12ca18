"""``/style``: the sticker's outline for this chat, chosen with buttons (or a word), kept with
the chat's other settings. The buttons carry ``style:<name>``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import texts
from bot.services import Services
from segmentation.options import OUTLINE_STYLES

PREFIX: Final = "style:"
# What a user may type after /style: the style names and the words the buttons show.
WORDS: Final[dict[str, str]] = {
    **{name: name for name in OUTLINE_STYLES},
    "white": "stroke",
    "classic": "seed",
    "off": "none",
}


def parse_style(words: list[str] | tuple[str, ...]) -> str | None:
    """The style named by the command's arguments, or None."""
    if len(words) != 1:
        return None
    return WORDS.get(words[0].strip().lower())


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.style_name(name), callback_data=PREFIX + name)]
            for name in texts.STYLE_NAMES
            if name in OUTLINE_STYLES
        ]
    )


class Style:
    def __init__(self, services: Services) -> None:
        self._journal = services.journal

    async def command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        current = await self._journal.chat_settings(chat.id)
        if not context.args:
            await message.reply_text(texts.style_prompt(current.style), reply_markup=keyboard())
            return
        style = parse_style(context.args)
        if style is None:
            await message.reply_text(texts.STYLE_USAGE)
            return
        await self._journal.save_chat_settings(chat.id, replace(current, style=style))
        await message.reply_text(texts.style_set(style))

    async def pick(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        style = (query.data or "").removeprefix(PREFIX)
        message = query.message
        if style not in OUTLINE_STYLES or not isinstance(message, Message):
            await query.answer(texts.STYLE_EXPIRED, show_alert=True)
            return
        current = await self._journal.chat_settings(message.chat.id)
        await self._journal.save_chat_settings(message.chat.id, replace(current, style=style))
        await query.answer()
        await message.edit_text(texts.style_set(style))


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    style = Style(services)
    return [
        CommandHandler("style", style.command),
        CallbackQueryHandler(style.pick, pattern=f"^{PREFIX}"),
    ]
