"""Telegram update handlers, one module per feature; :func:`register` wires them all.

Handlers only validate, talk to the journal and reply: nothing here blocks the event loop.
Order matters: the first matching handler wins, so the catch-alls come last.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.handlers import admin, callbacks, commands, errors, language, packs, photos, style
from bot.services import Services

App = Application[Any, Any, Any, Any, Any, Any]


def register(application: App, services: Services) -> None:
    # The chat's language first, for every update (a group of its own).
    application.add_handlers(language.early_handlers(services), group=language.GROUP)
    # packs, language, style and commands before callbacks: their buttons have a pattern,
    # the class buttons' handler has none.
    for module in (commands, language, style, admin, packs, callbacks, photos):
        application.add_handlers(module.handlers(services))
    application.add_error_handler(errors.on_error)
