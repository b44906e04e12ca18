"""Bot API methods that carry files: documents, photos, stickers, videos, albums, getFile,
and sticker sets.

A file parameter may be an upload (a multipart part named like the parameter, or any part
referenced as ``attach://<name>``), the ``file_id`` of a stored file of the same kind, or an
HTTP URL (refused: the emulator has no internet, and says so the way Telegram does when it
cannot fetch a URL).
"""

from __future__ import annotations

import copy
import io
import logging
import re
import secrets
from typing import Any

from PIL import Image

from tests.bot.emulator.formatting import format_text, utf16_len
from tests.bot.emulator.media import (
    MAX_DOWNLOAD_BYTES,
    StoredFile,
    make_document,
    make_photo,
    make_sticker,
    make_video,
)
from tests.bot.emulator.messages import MAX_CAPTION, formatted, prepare_send
from tests.bot.emulator.params import FileInput, Params
from tests.bot.emulator.records import JSON, ApiError, bad_request
from tests.bot.emulator.registry import api_method
from tests.bot.emulator.state import EmulatorState

logger = logging.getLogger(__name__)

# Sticker-set rules, from the Bot API (createNewStickerSet, addStickerToSet, InputSticker,
# uploadStickerFile) and core.telegram.org/stickers; error texts as the Bot API server words
# them (telegram-bot-api's Client.cpp maps PACK_SHORT_NAME_INVALID and _OCCUPIED to the two
# sentences below; other RPC errors such as PEER_ID_INVALID pass through upper-case).
MAX_SET_STICKERS = 120  # static (and regular) sets
MAX_INITIAL_STICKERS = 50  # createNewStickerSet's list
MAX_SET_NAME = 64
MAX_STATIC_STICKER_BYTES = 512 * 1024
STICKER_SIDE = 512
MAX_EMOJI = 20
INVALID_SET_NAME = "invalid sticker set name is specified"
NAME_OCCUPIED = "sticker set name is already occupied"
_SET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def existing_file(state: EmulatorState, ref: FileInput, kind: str) -> StoredFile:
    """The stored file a ``file_id`` (or URL) refers to, checked against the wanted kind."""
    if ref.url is not None:
        raise bad_request("failed to get HTTP URL content")
    stored = state.files.get(ref.file_id or "")
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored.kind != kind:
        raise bad_request("type of file mismatch")
    return stored


def _upload_bytes(ref: FileInput) -> bytes | None:
    if ref.upload is None:
        return None
    if not ref.upload.data:
        raise bad_request("file must be non-empty")
    return ref.upload.data


def _build_media(state: EmulatorState, kind: str, ref: FileInput, params: Params) -> Any:
    """The media object (or PhotoSize list) for one file reference of ``kind``."""
    data = _upload_bytes(ref)
    if data is None:
        return copy.deepcopy(existing_file(state, ref, kind).media)
    upload = ref.upload
    assert upload is not None
    if kind == "document":
        return make_document(
            state.files, data, file_name=upload.filename, mime_type=upload.content_type
        )
    if kind == "photo":
        return make_photo(state.files, data)
    if kind == "sticker":
        return make_sticker(state.files, data, emoji=params.opt_str("emoji"))
    return make_video(
        state.files,
        data,
        width=params.opt_int("width") or 0,
        height=params.opt_int("height") or 0,
        duration=params.opt_int("duration") or 0,
        file_name=upload.filename,
        mime_type=upload.content_type if upload.content_type.startswith("video/") else "video/mp4",
    )


def _send_file(state: EmulatorState, params: Params, kind: str, *, caption: bool = True) -> JSON:
    chat, extra = prepare_send(state, params)
    ref = params.input_file(kind)
    if ref is None:
        raise bad_request(f"there is no {kind} in the request")
    content: JSON = {kind: _build_media(state, kind, ref, params)}
    if caption:
        content.update(formatted(params, "caption", caption=True))
    return state.store_message(chat, state.bot_user, {**content, **extra}, from_bot=True)


@api_method("sendDocument")
def send_document(state: EmulatorState, params: Params) -> JSON:
    """Send a general file; the message carries a Document object."""
    return _send_file(state, params, "document")


@api_method("sendPhoto")
def send_photo(state: EmulatorState, params: Params) -> JSON:
    """Send a photo; the message carries the PhotoSize list Telegram generates."""
    return _send_file(state, params, "photo")


@api_method("sendSticker")
def send_sticker(state: EmulatorState, params: Params) -> JSON:
    """Send a sticker (static WEBP/PNG, ``.tgs`` or ``.webm``); no caption."""
    return _send_file(state, params, "sticker", caption=False)


@api_method("sendVideo")
def send_video(state: EmulatorState, params: Params) -> JSON:
    """Send a video; dimensions and duration come from the parameters."""
    return _send_file(state, params, "video")


@api_method("sendMediaGroup")
def send_media_group(state: EmulatorState, params: Params) -> list[JSON]:
    """Send an album of 2-10 photos/videos or documents (files as ``attach://`` parts)."""
    chat, extra = prepare_send(state, params)
    extra.pop("reply_markup", None)
    items = params.opt_list("media") or []
    if not 2 <= len(items) <= 10:
        raise bad_request("wrong number of media in the group")
    group_id = str(secrets.randbits(62))
    contents: list[JSON] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in ("photo", "video", "document"):
            raise bad_request("can't parse InputMedia JSON object")
        ref = params.file_ref(item.get("media"))
        if ref is None:
            raise bad_request("there is no media in the request")
        kind = str(item["type"])
        content: JSON = {kind: _build_media(state, kind, ref, params), "media_group_id": group_id}
        text, entities = format_text(
            str(item.get("caption") or ""), item.get("parse_mode"), item.get("caption_entities")
        )
        if utf16_len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        if text:
            content["caption"] = text
        if entities:
            content["caption_entities"] = entities
        contents.append(content)
    sent = []
    for number, content in enumerate(contents):
        reply = extra if number == 0 else {}
        sent.append(state.store_message(chat, state.bot_user, {**content, **reply}, from_bot=True))
    return sent


@api_method("getFile")
def get_file(state: EmulatorState, params: Params) -> JSON:
    """File info with ``file_path``; files over 20 MB cannot be downloaded by bots."""
    stored = state.files.get(params.opt_str("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.file_size > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return stored.file_json()


# --- sticker sets ---------------------------------------------------------------------------


def _sticker_source(state: EmulatorState, params: Params, value: Any) -> bytes:
    ref = params.file_ref(value)
    if ref is None:
        raise bad_request("can't parse InputSticker: sticker not found")
    data = _upload_bytes(ref)
    if data is not None:
        return data
    if ref.url is not None:
        raise bad_request("failed to get HTTP URL content")
    stored = state.files.get(ref.file_id or "")
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored.data


def _check_static_sticker(data: bytes) -> None:
    """Sticker-set rules for static stickers: WEBP/PNG, at most 512 KB, one side 512 px and
    neither above."""
    if data[:2] == b"\x1f\x8b" or data[:4] == b"\x1a\x45\xdf\xa3":
        raise bad_request("can't parse InputSticker: wrong sticker format specified")
    if len(data) > MAX_STATIC_STICKER_BYTES:
        raise bad_request("file is too big")
    try:
        with Image.open(io.BytesIO(data)) as image:
            size, fmt = image.size, image.format
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc
    if fmt not in ("WEBP", "PNG"):
        raise bad_request("STICKER_PNG_NOPNG")
    if max(size) != STICKER_SIDE:
        raise bad_request("STICKER_PNG_DIMENSIONS")


def _input_sticker(state: EmulatorState, params: Params, item: Any, set_name: str) -> JSON:
    if not isinstance(item, dict):
        raise bad_request("can't parse InputSticker JSON object")
    sticker_format = item.get("format", "static")
    if sticker_format not in ("static", "animated", "video"):
        raise bad_request("can't parse InputSticker: wrong sticker format specified")
    emoji_list = item.get("emoji_list")
    if not isinstance(emoji_list, list) or not 1 <= len(emoji_list) <= MAX_EMOJI:
        raise bad_request("invalid sticker emojis")
    if not all(_looks_like_emoji(emoji) for emoji in emoji_list):
        raise bad_request("invalid sticker emojis")
    data = _sticker_source(state, params, item.get("sticker"))
    if sticker_format == "static":
        _check_static_sticker(data)
    return make_sticker(state.files, data, emoji=str(emoji_list[0]), set_name=set_name)


def _sticker_set(state: EmulatorState, params: Params) -> JSON:
    found = state.sticker_sets.get((params.opt_str("name") or "").lower())
    if found is None:
        raise bad_request("STICKERSET_INVALID")
    return found


def _looks_like_emoji(value: Any) -> bool:
    """Roughly Telegram's check: a short non-empty string without letters, digits or spaces
    (``"cat"`` fails, ``"🐱"`` and ``"❤️"`` pass; keycaps such as ``1️⃣`` are allowed)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 16:
        return False
    if value[0] in "0123456789#*" and value.endswith("\u20e3"):
        return True
    return not any(c.isspace() or (c.isascii() and c.isalnum()) for c in value)


def _known_user(state: EmulatorState, params: Params) -> int:
    """The owner of a sticker set (or file): a user Telegram knows who started the bot.

    A user the bot never saw: ``user not found``; the bot itself: ``USER_IS_BOT``; a user who
    only met the bot in a group, never in a private chat: ``PEER_ID_INVALID`` (bots may make
    packs only for users who started them).
    """
    user_id = params.req_int("user_id", "user not found")
    if user_id == state.bot_user["id"]:
        raise bad_request("USER_IS_BOT")
    if user_id not in state.users:
        raise bad_request("user not found")
    private = state.chats.get(user_id)
    if private is None or private.get("type") != "private":
        raise bad_request("PEER_ID_INVALID")
    return user_id


def valid_set_name(name: str, bot_username: str) -> bool:
    """createNewStickerSet's name rule: 1-64 English letters, digits and underscores, starting
    with a letter, no two underscores in a row, ending in ``_by_<bot username>`` (any case)."""
    return (
        1 <= len(name) <= MAX_SET_NAME
        and _SET_NAME.fullmatch(name) is not None
        and "__" not in name
        and name.lower().endswith(f"_by_{bot_username}".lower())
    )


@api_method("uploadStickerFile")
def upload_sticker_file(state: EmulatorState, params: Params) -> JSON:
    """Store a sticker file for later use in sticker sets; returns a File."""
    _known_user(state, params)
    sticker_format = params.opt_str("sticker_format")
    if sticker_format not in ("static", "animated", "video"):
        raise bad_request("wrong sticker format specified")
    data = _sticker_source(state, params, params.values.get("sticker") or "attach://sticker")
    if sticker_format == "static":
        _check_static_sticker(data)
    sticker = make_sticker(state.files, data)
    stored = state.files.get(sticker["file_id"])
    assert stored is not None
    return stored.file_json()


@api_method("createNewStickerSet")
def create_new_sticker_set(state: EmulatorState, params: Params) -> bool:
    """Create a set named ``..._by_<bot username>`` owned by a user who started the bot.

    A name of a set deleted in this session answers like Telegram does for a while after a
    deletion: 500 ``created sticker set not found``.
    """
    owner = _known_user(state, params)
    name = params.opt_str("name") or ""
    if not valid_set_name(name, state.bot_user["username"]):
        raise bad_request(INVALID_SET_NAME)
    if name.lower() in state.sticker_sets:
        raise bad_request(NAME_OCCUPIED)
    if name.lower() in state.deleted_sticker_sets:
        raise ApiError(500, "Internal Server Error: created sticker set not found")
    title = params.opt_str("title") or ""
    if not 1 <= len(title) <= 64:
        raise bad_request("STICKERSET_TITLE_INVALID")
    items = params.opt_list("stickers") or []
    if not 1 <= len(items) <= MAX_INITIAL_STICKERS:
        raise bad_request("can't parse stickers JSON object")
    stickers = [_input_sticker(state, params, item, name) for item in items]
    state.sticker_sets[name.lower()] = {
        "name": name,
        "title": title,
        "sticker_type": params.opt_str("sticker_type") or "regular",
        "stickers": stickers,
        "owner": owner,
    }
    return True


@api_method("addStickerToSet")
def add_sticker_to_set(state: EmulatorState, params: Params) -> bool:
    """Append one InputSticker to a set the bot created."""
    _known_user(state, params)
    sticker_set = _sticker_set(state, params)
    if len(sticker_set["stickers"]) >= MAX_SET_STICKERS:
        raise bad_request("STICKERS_TOO_MUCH")
    item = params.opt_obj("sticker", "InputSticker")
    sticker_set["stickers"].append(_input_sticker(state, params, item, sticker_set["name"]))
    return True


@api_method("getStickerSet")
def get_sticker_set(state: EmulatorState, params: Params) -> JSON:
    """A StickerSet object."""
    found = _sticker_set(state, params)
    return copy.deepcopy({key: value for key, value in found.items() if key != "owner"})


@api_method("deleteStickerFromSet")
def delete_sticker_from_set(state: EmulatorState, params: Params) -> bool:
    """Remove a sticker (by file_id) from whichever set holds it."""
    file_id = params.opt_str("sticker") or ""
    for sticker_set in state.sticker_sets.values():
        kept = [s for s in sticker_set["stickers"] if s["file_id"] != file_id]
        if len(kept) != len(sticker_set["stickers"]):
            sticker_set["stickers"] = kept
            return True
    raise bad_request("STICKERSET_INVALID")


@api_method("deleteStickerSet")
def delete_sticker_set(state: EmulatorState, params: Params) -> bool:
    """Delete a whole set."""
    found = _sticker_set(state, params)
    del state.sticker_sets[found["name"].lower()]
    state.deleted_sticker_sets.add(found["name"].lower())
    return True


@api_method("setStickerSetTitle")
def set_sticker_set_title(state: EmulatorState, params: Params) -> bool:
    """Rename a set."""
    _sticker_set(state, params)["title"] = params.req_str("title", "STICKERSET_TITLE_INVALID")
    return True
