"""Fixtures for the bot's end-to-end tests: a local Bot API emulator, the bot, log capture."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import StickerBot
from bot.config import Settings
from bot.retry import RetryPolicy
from tests.bot.botkit import ADMIN
from tests.bot.emulator import BotApiEmulator
from tests.standins import ColourSegmenter


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    """A started :class:`BotApiEmulator` on a free 127.0.0.1 port, stopped after the test."""
    async with BotApiEmulator() as emu:
        yield emu


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """A string for the bot's log output; the root logger's handlers and level, and httpx's
    levels, are restored after the test (tests call ``bot.logs.setup_logging`` on it)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = saved
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


# --- the bot ----------------------------------------------------------------------------------

# Retries without the production waits: the tests must not sleep for seconds.
FAST_RETRY = RetryPolicy(tries=3, base_delay_s=0.01, max_delay_s=0.05)

StartBot = Callable[..., Awaitable[StickerBot]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The bot's DATA_DIR, shared by every bot a test starts (restarts keep it)."""
    return tmp_path / "data"


@pytest.fixture
async def start_bot(emulator: BotApiEmulator, data_dir: Path) -> AsyncIterator[StartBot]:
    """``await start_bot(segmenter=..., retry=..., **settings)``: a started StickerBot talking
    to the emulator (long polling unless WEBHOOK_URL is given); stopped after the test.

    The model is ``segmenter`` (default: the colour stand-in), what ``factory`` makes, or --
    when ``MODEL`` is given without either -- the real one that setting names."""
    bots: list[StickerBot] = []

    async def start(
        *,
        segmenter: Any = None,
        factory: Callable[[], Any] | None = None,
        retry: RetryPolicy = FAST_RETRY,
        **overrides: Any,
    ) -> StickerBot:
        real = segmenter is None and "MODEL" in overrides
        model = segmenter if segmenter is not None else ColourSegmenter()
        values: dict[str, Any] = {
            "BOT_TOKEN": emulator.token,
            "TELEGRAM_API_URL": emulator.url,
            "DATA_DIR": data_dir,
            "ADMIN_IDS": str(ADMIN),
            "SHUTDOWN_GRACE_SECONDS": 10.0,
            "MODEL": "standin.tflite",
            # Stand-ins are closures, which cannot travel to a child process.
            "ISOLATE_MODEL": real,
            **overrides,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        if factory is None and not real:
            factory = lambda: model  # noqa: E731
        bot = StickerBot(settings, segmenter_factory=factory, retry=retry)
        bots.append(bot)
        await bot.start()
        return bot

    yield start
    for bot in reversed(bots):
        await bot.stop()
