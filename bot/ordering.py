"""Handling updates of different chats concurrently, and those of one chat in order.

Handlers mostly wait on Telegram (a reply takes a round trip), so one-at-a-time processing
would let a burst of photos delay everyone's /help. Within a chat order matters ("/class dog"
then a photo), so each chat has a lock; asyncio locks are FIFO, so a chat's updates run in
the order they arrived.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:  # forget idle chats: memory stays bounded
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
