"""Fixtures for the bot's end-to-end tests: a local Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.bot.emulator import BotApiEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    """A started :class:`BotApiEmulator` on a free 127.0.0.1 port, stopped after the test."""
    async with BotApiEmulator() as emu:
        yield emu


# --- the bot itself (appended by the bot's tests) ---------------------------------------------

from collections.abc import Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bot.app import StickerBot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.retry import RetryPolicy  # noqa: E402
from tests.bot.botkit import ADMIN  # noqa: E402
from tests.standins import ColourSegmenter  # noqa: E402

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
