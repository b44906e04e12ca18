"""Telegram's refusals, classified in one place: real wordings -> what the bot does."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.refusals import Refused, classify, unreachable

CASES: list[tuple[TelegramError, Refused | None]] = [
    (BadRequest("Bad Request: file is too big"), Refused.FILE_TOO_BIG),
    (BadRequest("Bad Request: chat not found"), Refused.CHAT_GONE),
    (Forbidden("Forbidden: bot was blocked by the user"), Refused.CHAT_GONE),
    (Forbidden("Forbidden: bot was kicked from the group chat"), Refused.CHAT_GONE),
    (Forbidden("Forbidden: user is deactivated"), Refused.CHAT_GONE),
    (BadRequest("Bad Request: PEER_ID_INVALID"), Refused.NOT_STARTED),
    (BadRequest("Bad Request: user not found"), Refused.NOT_STARTED),
    (BadRequest("Bad Request: USER_ID_INVALID"), Refused.NOT_STARTED),
    (BadRequest("Bad Request: sticker set name is already occupied"), Refused.NAME_TAKEN),
    (BadRequest("Bad Request: STICKERS_TOO_MUCH"), Refused.SET_FULL),
    (BadRequest("Bad Request: STICKERSET_INVALID"), Refused.SET_GONE),
    (BadRequest("Bad Request: wrong file identifier/HTTP URL specified"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: wrong remote file identifier specified"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: invalid file_id"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: type of file mismatch"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: STICKER_PNG_NOPNG"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: STICKER_PNG_DIMENSIONS"), Refused.FILE_REFUSED),
    (BadRequest("Bad Request: IMAGE_PROCESS_FAILED"), Refused.FILE_REFUSED),
    (
        BadRequest("Bad Request: can't parse InputSticker: wrong sticker format specified"),
        Refused.FILE_REFUSED,
    ),
    # Not refusals the bot acts on: plain failures. The old substring "file" matched some.
    (BadRequest("Bad Request: file must be non-empty"), None),
    (BadRequest("Bad Request: message to edit not found"), None),
    (BadRequest("Bad Request: message is not modified"), None),
    (BadRequest("Bad Request: failed to get HTTP URL content"), None),
    (BadRequest("Bad Request: STICKERSET_TITLE_INVALID"), None),
    (NetworkError("httpx.ConnectError: chat not found"), None),  # not a refusal at all
    (TelegramError("file is too big"), None),  # the wording, but no BadRequest
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=[str(e) for e, _ in CASES])
def test_each_refusal_is_classified(error: TelegramError, expected: Refused | None) -> None:
    assert classify(error) is expected


def test_only_a_gone_chat_is_unreachable() -> None:
    assert unreachable(Forbidden("Forbidden: bot was blocked by the user"))
    assert unreachable(BadRequest("Bad Request: chat not found"))
    assert not unreachable(BadRequest("Bad Request: PEER_ID_INVALID"))
    assert not unreachable(NetworkError("timed out"))
