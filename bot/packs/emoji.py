"""The emoji of a sticker: each class's own, or the one a user chose (``parse_emoji``)."""

from __future__ import annotations

from collections.abc import Mapping

# The emoji of a sticker whose class has none (an old job without its class).
DEFAULT_EMOJI = "⭐"
# Each class's emoji: what Telegram suggests the sticker for.
CLASS_EMOJI: Mapping[str, str] = {
    "aeroplane": "✈️",
    "bicycle": "🚲",
    "bird": "🐦",
    "boat": "⛵",
    "bottle": "🍾",
    "bus": "🚌",
    "car": "🚗",
    "cat": "🐱",
    "chair": "🪑",
    "cow": "🐮",
    "diningtable": "🍽️",
    "dog": "🐶",
    "horse": "🐴",
    "motorbike": "🏍️",
    "person": "🙂",
    "pottedplant": "🪴",
    "sheep": "🐑",
    "sofa": "🛋️",
    "train": "🚆",
    "tvmonitor": "📺",
}


def class_emoji(target: str | None) -> str:
    return CLASS_EMOJI.get(target or "", DEFAULT_EMOJI)


# Code points that only modify or join emoji: variation selector 16, zero-width joiner,
# combining keycap, skin tones, and the tag characters of subdivision flags.
_VS16, _ZWJ, _KEYCAP = 0xFE0F, 0x200D, 0x20E3
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_REGIONAL = range(0x1F1E6, 0x1F200)
# Where emoji live: pictographs, symbols, dingbats, arrows, and the few older single symbols.
_EMOJI_RANGES = (
    range(0x1F000, 0x1FB00),
    range(0x2600, 0x27C0),
    range(0x2300, 0x2400),
    range(0x2B00, 0x2C00),
    range(0x2190, 0x2200),
    range(0x2900, 0x2980),
    range(0x25A0, 0x2600),
)
_EMOJI_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D})
_EMOJI_SINGLES |= {0x3297, 0x3299}
# The longest single emoji (family ZWJ sequences with skin tones) are about 10 code points.
MAX_EMOJI_CODE_POINTS = 16


def _pictographic(point: int) -> bool:
    return point in _EMOJI_SINGLES or any(point in r for r in _EMOJI_RANGES)


def parse_emoji(text: str) -> str | None:
    """``text`` if it is exactly one emoji (with its modifiers and joins), else None."""
    text = text.strip()
    points = [ord(c) for c in text]
    if not points or len(points) > MAX_EMOJI_CODE_POINTS:
        return None
    if len(points) == 2 and all(p in _REGIONAL for p in points):  # a flag
        return text
    if text[0] in "0123456789#*" and points[-1] == _KEYCAP and points[1:-1] in ([], [_VS16]):
        return text
    for part in _split(points, _ZWJ):
        if not part or not _pictographic(part[0]) or part[0] in _REGIONAL:
            return None
        if any(p != _VS16 and p not in _SKIN_TONES and p not in _TAGS for p in part[1:]):
            return None
    return text


def _split(points: list[int], separator: int) -> list[list[int]]:
    parts: list[list[int]] = [[]]
    for point in points:
        if point == separator:
            parts.append([])
        else:
            parts[-1].append(point)
    return parts
