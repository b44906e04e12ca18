"""MODEL_ZOOM: checked at start, and every job's sticker gets the object zoom pass."""

from __future__ import annotations

from bot.config import load_settings
from tests.bot.botkit import USER, photo
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.bot.test_config import TOKEN, problem
from tests.bot.test_flow import sticker_for
from tests.standins import ColourSegmenter


def test_model_zoom_is_checked() -> None:
    message = problem(BOT_TOKEN=TOKEN, MODEL_ZOOM="huge")
    assert "MODEL_ZOOM" in message
    assert "'huge'" in message
    assert load_settings(None, BOT_TOKEN=TOKEN, MODEL_ZOOM=" View ").MODEL_ZOOM == "view"
    assert load_settings(None, BOT_TOKEN=TOKEN).MODEL_ZOOM == "off"


async def test_model_zoom_runs_a_second_pass_per_photo(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    passes = {}
    for zoom in ("off", "view"):
        segmenter = ColourSegmenter()
        bot = await start_bot(segmenter=segmenter, MODEL_ZOOM=zoom)
        before = segmenter.calls  # the warm-up
        mark = len(emulator.calls)
        emulator.send_photo(USER, photo())
        png = await sticker_for(emulator, USER, since=mark)
        assert png
        passes[zoom] = segmenter.calls - before
        await bot.stop()
    assert passes == {"off": 1, "view": 2}
