"""The callback data of the "tap a class" buttons: ``pick:<job id>:<class index>``, and of
the "Add to my pack" button under a sticker: ``pack:<job id>``, and of the "Did you mean"
buttons of ``/class``: ``class:<name>``.

Telegram allows 1-64 bytes of callback data, far too little for a file_id: the button names
the job (whose journal row holds the photo's file_id) and the class, by number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from segmentation.classes import BACKGROUND, VOC_CLASSES, class_index, parse_class
from segmentation.errors import UnknownClass

# Telegram's limit on InlineKeyboardButton.callback_data, in bytes.
MAX_CALLBACK_BYTES = 64
_PATTERN = re.compile(r"pick:(\d{1,18}):(\d{1,3})")
# What the pack button's handler answers to (registered before the catch-all "pick" one).
PACK_PATTERN = r"^pack:"
_PACK = re.compile(r"pack:(\d{1,18})")
CLASS_PATTERN = r"^class:"
_CLASS = re.compile(r"class:(.{1,58})")


@dataclass(frozen=True, slots=True)
class Choice:
    job_id: int
    target: str


def encode(job_id: int, target: str, classes: Sequence[str] = VOC_CLASSES) -> str:
    return _checked(f"pick:{job_id}:{class_index(target, classes)}")


def decode(data: str | None, classes: Sequence[str] = VOC_CLASSES) -> Choice | None:
    """The choice a button carries (a class of the model's ``classes``), or None for
    anything we did not produce."""
    match = _PATTERN.fullmatch(data or "")
    if match is None:
        return None
    index = int(match.group(2))
    if index == BACKGROUND or index >= len(classes):
        return None
    return Choice(job_id=int(match.group(1)), target=classes[index])


def encode_pack(job_id: int) -> str:
    """The "Add to my pack" button of a job's sticker: the job's journal row has the file_id."""
    return _checked(f"pack:{job_id}")


def _checked(data: str) -> str:
    if len(data.encode()) > MAX_CALLBACK_BYTES:  # pragma: no cover - ids have <= 19 digits
        raise ValueError(f"callback data too long: {data!r}")
    return data


def encode_class(target: str) -> str:
    """A "Did you mean person?" button: sets the chat's class to ``target``."""
    return _checked(f"class:{target}")


def decode_class(data: str | None, classes: Sequence[str] = VOC_CLASSES) -> str | None:
    """The class (of the model's ``classes``) a "Did you mean" button carries, or None for
    anything we did not produce."""
    match = _CLASS.fullmatch(data or "")
    if match is None:
        return None
    try:
        return parse_class(match.group(1), classes=classes)
    except UnknownClass:
        return None


def decode_pack(data: str | None) -> int | None:
    """The job id a pack button carries, or None for anything we did not produce."""
    match = _PACK.fullmatch(data or "")
    return None if match is None else int(match.group(1))
