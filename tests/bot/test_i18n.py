"""The catalogs: every message of the source translated in every language, with the same
placeholders; plural forms; class names in the user's language; the language negotiation."""

from __future__ import annotations

import ast
import re
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n, texts
from bot.arguments import parse_class_argument
from bot.chats import ChatSettings
from bot.journal import Journal
from segmentation.classes import VOC_CLASSES
from segmentation.errors import UnknownClass

BOT_DIR = Path(i18n.__file__).parent
OTHER_LANGUAGES = [code for code in i18n.languages() if code != i18n.SOURCE_LANGUAGE]


def _source_messages() -> dict[str | tuple[str, ...], int]:
    """What ``pybabel extract`` finds in the bot's code now (not the committed .pot)."""
    found: dict[str | tuple[str, ...], int] = {}
    for _file, lineno, message, _comments, _context in extract_from_dir(str(BOT_DIR)):
        key = message if isinstance(message, str) else tuple(message)
        found[key] = lineno
    return found


def _catalog(code: str) -> Catalog:
    with i18n.catalog_path(code).open("rb") as file:
        return read_po(file, locale=code)


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def _strings(message: Message) -> Iterator[str]:
    yield from (message.string if isinstance(message.string, tuple) else (message.string,))


def test_russian_is_spoken_and_english_is_the_source() -> None:
    assert i18n.languages()[0] == "en"
    assert "ru" in OTHER_LANGUAGES


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_every_message_is_translated(code: str) -> None:
    catalog = _catalog(code)
    missing = []
    for key in _source_messages():
        msgid = key if isinstance(key, str) else key[0]
        message = catalog.get(msgid)
        if message is None or message.fuzzy or not all(_strings(message)):
            missing.append(msgid)
    assert not missing, f"{code}: untranslated (run pybabel extract + update): {missing}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_translations_keep_the_placeholders(code: str) -> None:
    catalog = _catalog(code)
    assert catalog.num_plurals >= 2
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else message.id
        expected = _fields(ids[0])
        for msgid in ids:
            assert _fields(msgid) == expected, f"source plural forms differ: {ids}"
        for translated in _strings(message):
            if translated and _fields(translated) != expected:
                wrong.append((ids[0], translated))
        if isinstance(message.id, tuple):
            assert len(tuple(_strings(message))) == catalog.num_plurals, message.id
    assert not wrong, f"{code}: placeholders differ from the source: {wrong}"


def test_the_checks_catch_a_missing_translation_and_a_wrong_placeholder() -> None:
    assert _fields("Queued, #{job_id} ({ahead} ahead of it).") == {"job_id", "ahead"}
    assert _fields("В очереди, №{job} (перед ним: {ahead}).") != _fields(
        "Queued, #{job_id} ({ahead} ahead of it)."
    )
    assert "Queued, #{job_id}." in _source_messages()


def test_no_sentence_bypasses_the_catalog() -> None:
    """A plain module-level string in bot.texts would never be translated."""
    plain = [
        name
        for name, value in vars(texts).items()
        if isinstance(value, str) and name.isupper() and " " in value
    ]
    assert not plain, f"use _SENTENCES (read as texts.NAME) for: {plain}"


@pytest.mark.parametrize(
    ("count", "form"),
    [
        (1, "1 стикер"),
        (3, "3 стикера"),
        (5, "5 стикеров"),
        (11, "11 стикеров"),
        (21, "21 стикер"),
        (24, "24 стикера"),
        (112, "112 стикеров"),
    ],
)
def test_russian_has_three_plural_forms(count: int, form: str) -> None:
    with i18n.use("ru"):
        assert texts.pack_added("L", count) == f"Добавлено в ваш набор ({form}): L"
    assert texts.pack_added("L", count).startswith("Added to your pack")


def test_sentences_and_class_names_follow_the_language() -> None:
    with i18n.use("ru"):
        assert texts.UNKNOWN_COMMAND.startswith("Я не знаю такой команды")
        assert texts.status_done(7, "cat", True) == "Готово ✓ №7: кошка (CRF вкл.)."
        assert "кошка (31%)" in texts.no_object("dog", {"cat": 0.31})
        # A class without a translation (a custom model's) keeps its name.
        assert texts.class_name("mascot") == "mascot"
    assert texts.status_done(7, "cat", True) == "Done ✓ #7: cat (CRF on)."
    assert i18n.current() == "en"


def test_every_class_has_a_name_in_every_language() -> None:
    assert set(texts.CLASS_NAMES) == set(VOC_CLASSES[1:])
    for code in OTHER_LANGUAGES:
        with i18n.use(code):
            assert set(texts.class_words().values()) == set(VOC_CLASSES[1:]), code


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("кошка", "cat"), ("Коты", "cat"), ("люди", "person"), ("cat", "cat"), ("авто", "car")],
)
def test_class_names_are_accepted_in_the_users_language(typed: str, expected: str) -> None:
    with i18n.use("ru"):
        assert parse_class_argument([typed], texts.class_words()) == expected


def test_a_misspelt_russian_name_gets_a_suggestion() -> None:
    with i18n.use("ru"), pytest.raises(UnknownClass) as info:
        parse_class_argument(["кошько"], texts.class_words())
    assert info.value.suggestions[0] == "cat"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("RU", "ru"),
        ("en-GB", "en"),
        ("de", None),
        ("", None),
        (None, None),
    ],
)
def test_telegram_language_codes_are_negotiated(code: str | None, expected: str | None) -> None:
    assert i18n.negotiate(code) == expected


def test_a_chosen_language_beats_telegrams() -> None:
    assert i18n.resolve("en", "ru") == "en"
    assert i18n.resolve(None, "ru-RU") == "ru"
    assert i18n.resolve(None, "de") == "en"
    assert i18n.resolve("xx", "ru") == "ru"  # a language no longer shipped


async def test_a_schema_2_journal_keeps_its_chat_settings_and_gains_the_language(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE chat_settings (chat_id INTEGER PRIMARY KEY, target TEXT NOT NULL, "
            "crf INTEGER NOT NULL, updated_at REAL NOT NULL);"
            "INSERT INTO chat_settings VALUES (5, 'dog', 0, 1.0);"
            "PRAGMA user_version = 2;"
        )
    old.close()
    journal = await Journal.open(path)
    try:
        assert await journal.chat_settings(5) == ChatSettings("dog", False, None, None)
        await journal.save_chat_settings(5, ChatSettings("dog", False, "ru", "en"))
        assert (await journal.chat_settings(5)).language == "ru"
    finally:
        await journal.close()


def test_album_status_counts_the_answered_photos() -> None:
    assert texts.album_status(1, 3, 4, 6) == "Album #4–#6: 1 of 3 answered…"
    assert texts.album_status(3, 3, 4, 6).startswith("Done ✓ album #4–#6: 3 answered")


# Functions of bot.texts that are English on purpose: the admins' report.
_ENGLISH_ONLY = {"stats_report", "workers_report"}
_MARKERS = {"_", "ngettext", "N_", "pgettext"}


def test_every_sentence_in_texts_goes_through_the_catalog() -> None:
    """A sentence written in bot/texts.py outside ``_()`` / ``ngettext`` (say, a new f-string
    in the old style) would reach every user in English."""
    tree = ast.parse(Path(texts.__file__).read_text())
    inside: set[int] = set()
    for node in ast.walk(tree):
        exempt = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _MARKERS
        )
        exempt |= isinstance(node, ast.FunctionDef) and node.name in _ENGLISH_ONLY
        exempt |= isinstance(node, ast.Raise)
        exempt |= isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # docs
        if exempt:
            inside.update(id(child) for child in ast.walk(node))
    plain = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in inside
        and " " in node.value
        and len(re.findall(r"[^\W\d_]{2,}", node.value)) >= 2
    ]
    assert not plain, f"put these inside _() or ngettext(): {plain}"
