"""The languages the bot speaks: gettext catalogs in ``bot/locales``, one ``.po`` file each.

English is the source language (the texts in :mod:`bot.texts`). Every other language is the
file ``bot/locales/<code>/LC_MESSAGES/messages.po``: adding one adds the language (the
``/lang`` buttons, the per-language command menu and the tests pick it up). Catalogs are read
with Babel and compiled in memory when first used (milliseconds), so a fresh clone needs no
build step and a stale ``.mo`` cannot exist.

The language of the update (or job) being handled is a context variable: handlers set it
once per update (:mod:`bot.handlers.language`), the worker per job, and every function of
:mod:`bot.texts` reads it. Each update is handled in its own task, so chats never mix.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR: Final = Path(__file__).parent / "locales"
DOMAIN: Final = "messages"
SOURCE_LANGUAGE: Final = "en"

_current: ContextVar[str] = ContextVar("language", default=SOURCE_LANGUAGE)


def catalog_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _translations() -> dict[str, _gettext.NullTranslations]:
    found: dict[str, _gettext.NullTranslations] = {SOURCE_LANGUAGE: _gettext.NullTranslations()}
    for po in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name
        with po.open("rb") as file:
            catalog = read_po(file, locale=language, domain=DOMAIN)
        compiled = io.BytesIO()
        # Fuzzy entries are not translations yet: the source text is shown instead.
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        found[language] = _gettext.GNUTranslations(compiled)
    return found


def languages() -> tuple[str, ...]:
    """The codes of every language the bot speaks, the source language first."""
    codes = _translations()
    return (SOURCE_LANGUAGE, *sorted(code for code in codes if code != SOURCE_LANGUAGE))


def language_name(code: str) -> str:
    """A language's name in that language, as its button shows it ("Русский")."""
    try:
        name = Locale.parse(code).display_name or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


def negotiate(code: str | None) -> str | None:
    """The language we speak for Telegram's ``language_code`` ("ru", "pt-br", "en-US"), or
    None when we don't speak it."""
    if not code:
        return None
    spoken = {language.lower(): language for language in languages()}
    code = code.replace("-", "_").lower()
    return spoken.get(code) or spoken.get(code.split("_", 1)[0])


def resolve(chosen: str | None, telegram_code: str | None) -> str:
    """The chat's language: its ``/lang`` choice, else the user's Telegram language, else
    the source language."""
    if chosen is not None and chosen in languages():
        return chosen
    return negotiate(telegram_code) or SOURCE_LANGUAGE


def current() -> str:
    return _current.get()


def set_language(language: str) -> None:
    """The language of everything said from now on in this task (one update's handling)."""
    _current.set(language if language in languages() else SOURCE_LANGUAGE)


@contextmanager
def use(language: str) -> Iterator[None]:
    """Speak ``language`` inside the ``with`` block."""
    token = _current.set(language if language in languages() else SOURCE_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return _translations()[_current.get()].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` (Russian has three: 1 стикер, 2 стикера, 5 стикеров)."""
    return _translations()[_current.get()].ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return _translations()[_current.get()].pgettext(context, message)


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated later, where it is shown."""
    return message
