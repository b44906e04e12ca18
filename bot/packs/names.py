"""Sticker set names and titles, by Telegram's rules (Bot API, "Stickers").

A set's name is 1-64 English letters, digits and underscores, starts with a letter, has no
two underscores in a row and ends in ``_by_<bot username>``; here it is
``pack_<user id>_by_<bot>`` for a user's first pack and ``pack_<user id>_<n>_by_<bot>`` for
the n-th, so names are deterministic and never collide between users.
"""

from __future__ import annotations

from bot import texts

# Telegram: set names and titles are 1-64 characters.
MAX_NAME_CHARS = 64
MAX_TITLE_CHARS = 64
# Start of every pack name: short, so that a 16-digit user id, a pack number and a 32-letter
# bot username still fit in 64 characters.
NAME_PREFIX = "pack"
PACK_LINK = "https://t.me/addstickers/{name}"


def is_valid_set_name(name: str, bot_username: str) -> bool:
    """Telegram's rules for a sticker set name made by ``bot_username``."""
    return (
        1 <= len(name) <= MAX_NAME_CHARS
        and name[:1].isascii()
        and name[:1].isalpha()
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        and "__" not in name
        and name.lower().endswith(f"_by_{bot_username}".lower())
    )


def set_name(user_id: int, number: int, bot_username: str) -> str:
    """The name of a user's ``number``-th pack (1, 2, ...)."""
    suffix = "" if number == 1 else f"_{number}"
    name = f"{NAME_PREFIX}_{user_id}{suffix}_by_{bot_username}"
    if not is_valid_set_name(name, bot_username):
        raise ValueError(f"no valid sticker set name for user {user_id}: {name!r}")
    return name


def set_title(first_name: str, number: int) -> str:
    """The pack's title in the current language (Ann's stickers, Ann's stickers 2 ...), the
    owner's name shortened so that it fits within 64 characters."""
    owner = " ".join(first_name.split())
    room = MAX_TITLE_CHARS - (len(texts.pack_title("x", number)) - 1)
    return texts.pack_title(owner[: max(0, room)].strip(), number)


def pack_link(name: str) -> str:
    return PACK_LINK.format(name=name)
