"""The bot with the real pretrained PASCAL VOC model (DeepLabV3 TFLite from ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.bot.botkit import USER, WAIT_S, reply, texted, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.conftest import encode

pytestmark = pytest.mark.slow


async def test_chelsea_becomes_a_cat_sticker(
    emulator: BotApiEmulator, start_bot: StartBot, deeplab_model_path: Path, chelsea: np.ndarray
) -> None:
    await start_bot(MODEL=str(deeplab_model_path), MODEL_THREADS=2)
    emulator.send_photo(USER, encode(chelsea, "JPEG"))
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    done = await emulator.wait_for("editMessageText", texted(USER, "Done"), WAIT_S)
    assert "Done ✓ #1: cat" in done.params["text"]
    assert emulator.calls_to("sendSticker")


async def test_class_person_then_astronaut(
    emulator: BotApiEmulator, start_bot: StartBot, deeplab_model_path: Path, astronaut: np.ndarray
) -> None:
    await start_bot(MODEL=str(deeplab_model_path), MODEL_THREADS=2)
    emulator.send_text(USER, "/class person")
    await reply(emulator, USER, "cut out person")
    emulator.send_photo(USER, encode(astronaut, "JPEG"))
    document = await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert document.params["caption"].startswith("person sticker")
    await emulator.wait_for("editMessageText", texted(USER, "Done ✓ #1: person"), WAIT_S)
