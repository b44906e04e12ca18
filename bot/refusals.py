"""What a Telegram refusal means: one table, one classifier (:func:`classify`).

Telegram says why it refused a call only in the error's text ("Bad Request: chat not
found", "Forbidden: bot was blocked by the user"); PTB capitalises it. Every place that acts
on a particular refusal asks :func:`classify` instead of matching text itself, so a new
wording is taught here once (and ``tests/bot/test_refusal_table.py`` holds the examples).
"""

from __future__ import annotations

from enum import StrEnum

from telegram.error import BadRequest, Forbidden, TelegramError


class Refused(StrEnum):
    """The refusals the bot acts on (anything else is a plain failure)."""

    # getFile: the file is above the Bot API's 20 MB download limit.
    FILE_TOO_BIG = "file_too_big"
    # The chat cannot get messages at all: bot blocked, kicked, chat deleted.
    CHAT_GONE = "chat_gone"
    # A user who never opened a private chat with the bot (sticker sets need one).
    NOT_STARTED = "not_started"
    # createNewStickerSet: the set name exists (made before the bot's records were lost).
    NAME_TAKEN = "name_taken"
    # addStickerToSet: the set holds its maximum.
    SET_FULL = "set_full"
    # The sticker set no longer exists (its owner deleted it).
    SET_GONE = "set_gone"
    # The sticker file (a file_id, or the PNG) was not accepted as a sticker.
    FILE_REFUSED = "file_refused"


# (kind, exception type, fragments of the lower-cased message; the first row that matches wins).
# Fragments are whole phrases or Telegram's upper-case error codes: never a lone word like
# "file", which would match "file is too big" and half the Bot API's messages.
_TABLE: tuple[tuple[Refused, type[TelegramError], tuple[str, ...]], ...] = (
    (Refused.FILE_TOO_BIG, BadRequest, ("file is too big",)),
    (Refused.NOT_STARTED, BadRequest, ("peer_id_invalid", "user not found", "user_id_invalid")),
    (Refused.CHAT_GONE, BadRequest, ("chat not found",)),
    (Refused.NAME_TAKEN, BadRequest, ("sticker set name is already occupied",)),
    (Refused.SET_FULL, BadRequest, ("stickers_too_much",)),
    (Refused.SET_GONE, BadRequest, ("stickerset_invalid",)),
    (
        Refused.FILE_REFUSED,
        BadRequest,
        (
            "wrong file identifier",
            "wrong remote file identifier",
            "invalid file_id",
            "type of file mismatch",
            "sticker_png_",
            "sticker_file_invalid",
            "image_process_failed",
            "wrong sticker format",
        ),
    ),
    # A 403 always means this chat (or user) will not take messages from the bot.
    (Refused.CHAT_GONE, Forbidden, ("",)),
)


def classify(error: TelegramError) -> Refused | None:
    """The refusal ``error`` stands for, or None for any other failure."""
    text = error.message.lower()
    for kind, error_type, fragments in _TABLE:
        if isinstance(error, error_type) and any(fragment in text for fragment in fragments):
            return kind
    return None


def unreachable(error: TelegramError) -> bool:
    """The chat cannot get messages at all (no point telling it anything)."""
    return classify(error) is Refused.CHAT_GONE
