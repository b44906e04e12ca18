"""Parsing command arguments: pure functions, so any input gets a value or a documented error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from segmentation.classes import VOC_CLASSES, parse_class
from segmentation.errors import UnknownClass

_ON = frozenset({"on", "yes", "true", "1", "enable", "enabled"})
_OFF = frozenset({"off", "no", "false", "0", "disable", "disabled"})
# Longer than any class name or alias: refuse before normalising megabytes of text.
MAX_CLASS_ARGUMENT = 64


def parse_class_argument(
    args: Sequence[str],
    words: Mapping[str, str] | None = None,
    classes: Sequence[str] = VOC_CLASSES,
) -> str | None:
    """``/class NAME`` -> canonical class of the model's ``classes`` or ``auto``; None
    without an argument. ``words``: the class names of the user's language (``кошка`` ->
    ``cat``), normalised.

    Raises :class:`UnknownClass` (with suggestions) for anything else.
    """
    text = " ".join(args).strip()
    if not text:
        return None
    if len(text) > MAX_CLASS_ARGUMENT:
        raise UnknownClass("class name too long")
    return parse_class(text, words=words, classes=classes)


def parse_switch(args: Sequence[str]) -> bool | None:
    """``on``/``off`` (and yes/no, true/false, 1/0) -> bool; None for anything else."""
    if len(args) != 1:
        return None
    word = args[0].strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    return None
