"""A bot running a model of its operator's own classes (made by ``stickerbot train``):
/classes, /class and the class buttons use that model's class list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot import choices, texts
from bot.arguments import parse_class_argument
from segmentation.errors import UnknownClass
from tests.bot.botkit import USER, WAIT_S, reply, texted
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.bot.test_flow import decode_png, sticker_for
from tests.segmentation.train.mascot import mascot_photo

OWN = ("background", "mascot", "logo")


def test_buttons_and_arguments_follow_the_models_classes() -> None:
    data = choices.encode(7, "logo", OWN)
    assert choices.decode(data, OWN) == choices.Choice(job_id=7, target="logo")
    assert choices.decode("pick:7:3", OWN) is None  # past the model's classes
    assert parse_class_argument(["Mascots"], classes=OWN) == "mascot"
    with pytest.raises(UnknownClass):
        parse_class_argument(["kitty"], classes=OWN)  # VOC aliases belong to VOC models
    assert parse_class_argument(["kitty"]) == "cat"
    listing = texts.classes_text(OWN[1:])
    assert "• mascot" in listing
    assert "• logo" in listing
    assert "cat" not in listing


@pytest.mark.slow
async def test_class_mascot_in_the_bot(
    emulator: BotApiEmulator, start_bot: StartBot, mascot_model: Path
) -> None:
    bot = await start_bot(MODEL=str(mascot_model))
    assert bot.services.classes == ("background", "mascot")

    emulator.send_text(USER, "/classes")
    listing = (await reply(emulator, USER, "I can recognise")).params["text"]
    assert "mascot" in listing
    assert "cat" not in listing
    emulator.send_text(USER, "/class cat")
    await reply(emulator, USER, "I don't know “cat”")
    emulator.send_text(USER, "/class mascto")  # a typo: the model's class is suggested
    offer = await reply(emulator, USER, "Did you mean mascot?")
    button = offer.params["reply_markup"]["inline_keyboard"][0][0]
    mark = len(emulator.calls)
    emulator.press_button(USER, offer.result, button["callback_data"])
    await emulator.wait_for("editMessageText", texted(USER, "cut out mascot"), WAIT_S, since=mark)
    emulator.send_text(USER, "/class mascot")
    await reply(emulator, USER, "cut out mascot")

    emulator.send_photo(USER, mascot_photo())
    alpha = decode_png(await sticker_for(emulator, USER))[..., 3]
    assert (alpha == 255).any()
    assert (alpha == 0).any()
    done = await emulator.wait_for("editMessageText", texted(USER, "Done"), WAIT_S)
    assert "mascot" in done.params["text"]
    assert np.mean(alpha > 0) < 0.9
