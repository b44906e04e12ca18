"""/start, /help, /class, /classes, /crf and /settings: per-chat settings, kept in SQLite."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot import texts
from bot.arguments import parse_class_argument, parse_switch
from bot.services import Services
from segmentation.errors import UnknownClass


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
        await message.reply_text(texts.help_text(settings.target, settings.crf, self._max_bytes))

    async def classes(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(texts.classes_text(self._classes))

    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        settings = await self._journal.chat_settings(chat.id)
        await message.reply_text(texts.settings_line(settings.target, settings.crf))

    async def set_class(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None
        assert chat is not None
        try:
            target = parse_class_argument(context.args or (), self._classes)
        except UnknownClass:
            await message.reply_text(texts.UNKNOWN_CLASS)
            return
        if target is None:
            await message.reply_text(texts.CLASS_USAGE)
            return
        current = await self._journal.chat_settings(chat.id)
        await self._journal.save_chat_settings(chat.id, replace(current, target=target))
        await message.reply_text(texts.class_set(target))

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


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    commands = Commands(services)
    return [
        CommandHandler(["start", "help"], commands.help),
        CommandHandler("classes", commands.classes),
        CommandHandler("settings", commands.settings),
        CommandHandler("class", commands.set_class),
        CommandHandler("crf", commands.set_crf),
    ]
