"""Per-chat settings (the class to cut out, the CRF switch): a plain synchronous store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.database import Store, Table
from segmentation.classes import AUTO

TABLES = (
    Table(
        """
CREATE TABLE IF NOT EXISTS chat_settings (
    chat_id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    crf INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""
    ),
)


@dataclass(frozen=True, slots=True)
class ChatSettings:
    target: str = AUTO
    crf: bool = True


class ChatStore(Store):
    def get(self, chat_id: int) -> ChatSettings:
        row = self._db.execute(
            "SELECT target, crf FROM chat_settings WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return ChatSettings() if row is None else ChatSettings(row["target"], bool(row["crf"]))

    def save(self, chat_id: int, settings: ChatSettings) -> None:
        with self._db as db:
            db.execute(
                "INSERT INTO chat_settings (chat_id, target, crf, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET "
                "target = excluded.target, crf = excluded.crf, updated_at = excluded.updated_at",
                (chat_id, settings.target, int(settings.crf), time.time()),
            )
