"""Sticker packs the bot keeps for its users: "Add to my pack", ``/pack`` and ``/emoji``.

* :mod:`~bot.packs.names`: set names and titles by Telegram's rules;
* :mod:`~bot.packs.emoji`: each class's emoji, and parsing a user's ``/emoji``;
* :mod:`~bot.packs.store`: the packs the bot knows (its own tables);
* :mod:`~bot.packs.maker`: adding a sticker (creating, filling and rolling over sets).
"""

from bot.packs.emoji import CLASS_EMOJI, DEFAULT_EMOJI, class_emoji, parse_emoji
from bot.packs.maker import AddResult, Outcome, PackMaker, StickerSource
from bot.packs.names import is_valid_set_name, pack_link, set_name, set_title
from bot.packs.store import MAX_STATIC_STICKERS, Pack, PackStore

__all__ = [
    "CLASS_EMOJI",
    "DEFAULT_EMOJI",
    "MAX_STATIC_STICKERS",
    "AddResult",
    "Outcome",
    "Pack",
    "PackMaker",
    "PackStore",
    "StickerSource",
    "class_emoji",
    "is_valid_set_name",
    "pack_link",
    "parse_emoji",
    "set_name",
    "set_title",
]
