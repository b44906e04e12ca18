"""The bot's side of the load test (``python -m bench.load --serve LAG_FILE``): the bot as
``stickerbot bot`` runs it, plus a ticker in its event loop that measures the loop's lag and
samples the worker's counters, written to LAG_FILE when the bot stops."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from pathlib import Path

# The ticker of the bot's loop, and how often it also samples the worker's counters.
TICK_S = 0.01
SAMPLE_EVERY = 5


async def serve(lag_file: Path, model: str | None) -> None:
    """Run the bot like ``stickerbot bot`` does, plus a ticker measuring its loop's lag."""
    from bot.app import StickerBot
    from bot.config import load_settings
    from bot.logs import setup_logging

    settings = load_settings(None)
    setup_logging(settings.LOG_LEVEL, secrets=[settings.BOT_TOKEN.get_secret_value()])
    factory = None
    if model is None:
        from tests.standins import ColourSegmenter

        factory = ColourSegmenter  # a class: picklable, so it can go to the model process
    bot = StickerBot(settings, segmenter_factory=factory)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lags: list[tuple[float, bool]] = []
    samples: list[tuple[float, int, int, float, int]] = []

    async def tick() -> None:
        histogram = bot.stats.histograms["inference"]
        busy = False
        for count in itertools.count():
            started = loop.time()
            await asyncio.sleep(TICK_S)
            lag_ms = (loop.time() - started - TICK_S) * 1000
            lags.append((lag_ms, busy))
            if count % SAMPLE_EVERY == 0:
                done = sum(bot.stats.outcomes.values())
                counts = await bot.worker.counts()
                busy = counts.running > 0
                samples.append((time.time(), done, counts.queued, histogram.total, histogram.count))

    try:
        await bot.start()
        ticker = asyncio.create_task(tick())
        await stop.wait()
        ticker.cancel()
    finally:
        await bot.stop()
    lag_file.write_text(json.dumps({"lags": lags, "samples": samples}))  # noqa: ASYNC240 - done
