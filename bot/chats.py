"""Per-chat settings (the class to cut out, the CRF switch, the language): a plain
synchronous store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.database import Store, Table
from segmentation.classes import AUTO
from segmentation.options import DEFAULT_OUTLINE_STYLE as DEFAULT_STYLE

TABLES = (
    Table(
        """
CREATE TABLE IF NOT EXISTS chat_settings (
    chat_id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    crf INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    language TEXT,                        -- chosen with /lang; NULL: Telegram's
    telegram_language TEXT,               -- the language_code last seen in the chat
    style TEXT NOT NULL DEFAULT 'stroke'  -- the outline style's name
);
""",
        added=(
            ("language", "TEXT"),
            ("telegram_language", "TEXT"),
            ("style", "TEXT NOT NULL DEFAULT 'stroke'"),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class ChatSettings:
    target: str = AUTO
    crf: bool = True
    # The language chosen with /lang; None: the user's Telegram language (bot.i18n.resolve).
    language: str | None = None
    # The language_code Telegram last sent from this chat (what answers of queued jobs use).
    telegram_language: str | None = None
    # The outline style's name (segmentation.options.OUTLINE_STYLES).
    style: str = DEFAULT_STYLE


class ChatStore(Store):
    def get(self, chat_id: int) -> ChatSettings:
        row = self._db.execute(
            "SELECT target, crf, language, telegram_language, style FROM chat_settings "
            "WHERE chat_id = ?",
            (chat_id,),
        ).fetchone()
        if row is None:
            return ChatSettings()
        return ChatSettings(
            row["target"],
            bool(row["crf"]),
            row["language"],
            row["telegram_language"],
            row["style"],
        )

    def save(self, chat_id: int, settings: ChatSettings) -> None:
        with self._db as db:
            db.execute(
                "INSERT INTO chat_settings (chat_id, target, crf, language, telegram_language, "
                "style, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE "
                "SET target = excluded.target, crf = excluded.crf, language = excluded.language, "
                "telegram_language = excluded.telegram_language, style = excluded.style, "
                "updated_at = excluded.updated_at",
                (
                    chat_id,
                    settings.target,
                    int(settings.crf),
                    settings.language,
                    settings.telegram_language,
                    settings.style,
                    time.time(),
                ),
            )
