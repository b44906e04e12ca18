"""Helpers for the bot's end-to-end tests: photos with a known answer, controllable stand-in
models, and reading what a user received from the emulator's records."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from tests.bot.emulator import ApiCall, BotApiEmulator
from tests.standins import ColourSegmenter

USER = 42
OTHER_USER = 43
ADMIN = 7
# Long enough for a slow CI machine to finish the handful of jobs a test waits for.
WAIT_S = 30.0
# A stand-in model that never hears "go" must still end, not hang the suite.
GATE_TIMEOUT_S = 60.0


def photo(*, cat: bool = True, dog: bool = False, size: tuple[int, int] = (240, 180)) -> bytes:
    """A JPEG on a grey background: a red disk (the stand-in's ``cat``) and/or a green
    square (its ``dog``)."""
    width, height = size
    rgb = np.full((height, width, 3), 128, np.uint8)
    yy, xx = np.mgrid[:height, :width]
    if cat:
        disk = (xx - width * 0.35) ** 2 + (yy - height * 0.5) ** 2 < (min(width, height) * 0.3) ** 2
        rgb[disk] = (220, 30, 30)
    if dog:
        rgb[height // 4 : height * 3 // 4, int(width * 0.7) : int(width * 0.92)] = (30, 200, 40)
    return encode(rgb, "JPEG", quality=92)


def encode(rgb: np.ndarray, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **options)
    return buffer.getvalue()


class GatedSegmenter(ColourSegmenter):
    """The colour stand-in, holding each prediction until the test opens the gate.

    ``entered`` is set when a prediction starts: the job is then on the model.
    """

    name = "gated-standin"

    def __init__(self, *, open_: bool = False) -> None:
        super().__init__()
        self.gate = threading.Event()
        if open_:
            self.gate.set()
        self.entered = threading.Event()
        self._warming = False

    def warmup(self) -> None:
        self._warming = True
        try:
            super().warmup()
        finally:
            self._warming = False

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        if not self._warming:
            self.entered.set()
            if not self.gate.wait(GATE_TIMEOUT_S):
                raise TimeoutError("the test never opened the gate")
        return super().predict(rgb)

    async def wait_entered(self) -> None:
        if not await asyncio.to_thread(self.entered.wait, WAIT_S):
            raise TimeoutError("no prediction started")


class FailingSegmenter(ColourSegmenter):
    """Raises (like a crashing model) on photos without any red; fine otherwise."""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        probs = super().predict(rgb)
        if rgb.shape[0] > 8 and not (rgb[..., 0] > 180).any():
            raise RuntimeError("the model fell over")
        return probs


class CrashingSegmenter(ColourSegmenter):
    """Kills its whole process (like a segfault in a native library) on photos without red."""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[0] > 8 and not (rgb[..., 0] > 180).any():
            os._exit(70)
        return super().predict(rgb)


def crashing_segmenter() -> CrashingSegmenter:
    """A picklable factory, for the model's child process."""
    return CrashingSegmenter()


def to(chat_id: int) -> Callable[[ApiCall], bool]:
    """Predicate: a successful call addressed to ``chat_id``."""
    return lambda call: call.ok and call.params.get("chat_id") == chat_id


def texted(chat_id: int, fragment: str) -> Callable[[ApiCall], bool]:
    """Predicate: a successful sendMessage/editMessageText to ``chat_id`` containing text."""
    return lambda call: to(chat_id)(call) and fragment in str(call.params.get("text", ""))


async def reply(emu: BotApiEmulator, chat_id: int, fragment: str, since: int = 0) -> ApiCall:
    return await emu.wait_for("sendMessage", texted(chat_id, fragment), WAIT_S, since=since)


def sent(emu: BotApiEmulator, method: str, chat_id: int) -> list[ApiCall]:
    return [call for call in emu.calls_to(method) if to(chat_id)(call)]


def uploaded(call: ApiCall, part: str) -> bytes:
    """The bytes the bot uploaded in a sendDocument/sendSticker call."""
    upload = call.files.get(part)
    assert upload is not None, f"{call.method} uploaded no {part}: {call.params}"
    return bytes(upload.data)


def texts_to(emu: BotApiEmulator, chat_id: int) -> list[str]:
    """The texts the user sees now (edits applied), oldest first."""
    return [m.get("text") or m.get("caption") or "" for m in emu.messages_to(chat_id)]
