"""Bot API methods about messages: send, edit, delete, chat actions, callback answers, getChat."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from tests.bot.emulator.formatting import format_text, utf16_len
from tests.bot.emulator.params import Params
from tests.bot.emulator.records import JSON, StoredMessage, bad_request
from tests.bot.emulator.registry import api_method
from tests.bot.emulator.state import EmulatorState, now

logger = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def _check_inline_keyboard(markup: JSON) -> JSON:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text must be a String")
            actions = [key for key in _BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                raise bad_request("BUTTON_URL_INVALID")
    return markup


def inline_markup(params: Params) -> JSON | None:
    """Validate ``reply_markup``; return it when it is an inline keyboard (kept on the message).

    Reply keyboards, ``remove_keyboard`` and ``force_reply`` are accepted but are not part of
    the returned Message, as on Telegram (tests read them from the recorded call's params).
    """
    markup = params.opt_obj("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return _check_inline_keyboard(markup)
    if isinstance(markup.get("keyboard"), list) or markup.get("remove_keyboard"):
        return None
    if markup.get("force_reply"):
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")


def prepare_send(state: EmulatorState, params: Params) -> tuple[JSON, JSON]:
    """Resolve the target chat plus the reply and inline-keyboard fields of a new message."""
    chat = state.target_chat(params.chat_id())
    reply = params.opt_obj("reply_parameters")
    if reply is not None:
        reply_to = reply.get("message_id")
        allow_missing = bool(reply.get("allow_sending_without_reply"))
        if not isinstance(reply_to, int):
            raise bad_request("message to be replied not found")
    else:
        reply_to = params.opt_int("reply_to_message_id")
        allow_missing = params.opt_bool("allow_sending_without_reply")
    extra = state.reply_target(chat, reply_to, allow_missing)
    markup = inline_markup(params)
    if markup is not None:
        extra["reply_markup"] = markup
    return chat, extra


def formatted(params: Params, field: str, *, caption: bool) -> JSON:
    """``text``/``caption`` plus entities after ``parse_mode``, with Telegram's length limits."""
    raw = params.opt_str(field) or ""
    entities_field = "caption_entities" if caption else "entities"
    text, entities = format_text(raw, params.opt_str("parse_mode"), params.opt_list(entities_field))
    if caption:
        if utf16_len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
    elif not text.strip():
        raise bad_request("message text is empty")
    elif utf16_len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    content: JSON = {field: text} if text else {}
    if entities:
        content[entities_field] = entities
    return content


@api_method("sendMessage")
def send_message(state: EmulatorState, params: Params) -> JSON:
    """Send a text message; the user sees the parsed text with its entities."""
    chat, extra = prepare_send(state, params)
    content = formatted(params, "text", caption=False)
    return state.store_message(chat, state.bot_user, {**content, **extra}, from_bot=True)


def _editable(state: EmulatorState, params: Params) -> tuple[StoredMessage, bool]:
    inline_id = params.opt_str("inline_message_id")
    if inline_id:
        stored = state.inline_messages.get(inline_id)
        if stored is None:
            raise bad_request("MESSAGE_ID_INVALID")
        return stored, True
    chat = state.target_chat(params.chat_id())
    message_id = params.req_int("message_id", "message identifier is not specified")
    found = state.find_message(chat["id"], message_id)
    if found is None:
        raise bad_request("message to edit not found")
    if not found.from_bot:
        raise bad_request("message can't be edited")
    return found, False


def _apply_edit(stored: StoredMessage, inline: bool, changes: JSON) -> JSON | bool:
    """Apply ``changes`` (a ``None`` value removes the field); 400 when nothing changes."""
    updated = copy.deepcopy(stored.data)
    for key, value in changes.items():
        if value is None:
            updated.pop(key, None)
        else:
            updated[key] = value
    if updated == stored.data:
        raise bad_request(NOT_MODIFIED)
    stored.history.append(stored.data)
    updated["edit_date"] = now()
    stored.data = updated
    return True if inline else copy.deepcopy(updated)


@api_method("editMessageText")
def edit_message_text(state: EmulatorState, params: Params) -> JSON | bool:
    """Replace a message's text; without ``reply_markup`` the inline keyboard is removed."""
    stored, inline = _editable(state, params)
    content = formatted(params, "text", caption=False)
    if "text" not in stored.data:
        raise bad_request("there is no text in the message to edit")
    changes = {"text": content["text"], "entities": content.get("entities")}
    changes["reply_markup"] = inline_markup(params)
    return _apply_edit(stored, inline, changes)


@api_method("editMessageCaption")
def edit_message_caption(state: EmulatorState, params: Params) -> JSON | bool:
    """Replace (or with an empty caption remove) the caption of a media message."""
    stored, inline = _editable(state, params)
    if not any(key in stored.data for key in ("photo", "document", "video", "animation")):
        raise bad_request("there is no caption in the message to edit")
    content = formatted(params, "caption", caption=True)
    changes = {
        "caption": content.get("caption"),
        "caption_entities": content.get("caption_entities"),
        "reply_markup": inline_markup(params),
    }
    return _apply_edit(stored, inline, changes)


@api_method("editMessageReplyMarkup")
def edit_message_reply_markup(state: EmulatorState, params: Params) -> JSON | bool:
    """Replace or (without ``reply_markup``) remove a message's inline keyboard."""
    stored, inline = _editable(state, params)
    return _apply_edit(stored, inline, {"reply_markup": inline_markup(params)})


@api_method("deleteMessage")
def delete_message(state: EmulatorState, params: Params) -> bool:
    """Delete one message (the bot's or, in private chats, the user's)."""
    chat = state.target_chat(params.chat_id())
    message_id = params.req_int("message_id", "message identifier is not specified")
    found = state.find_message(chat["id"], message_id)
    if found is None:
        raise bad_request("message to delete not found")
    found.deleted = True
    return True


@api_method("deleteMessages")
def delete_messages(state: EmulatorState, params: Params) -> bool:
    """Delete several messages; ids that do not exist are skipped."""
    chat = state.target_chat(params.chat_id())
    ids = params.opt_list("message_ids") or []
    if not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must be non-empty")
    for message_id in ids:
        found = state.find_message(chat["id"], int(message_id))
        if found is not None:
            found.deleted = True
    return True


@api_method("sendChatAction")
def send_chat_action(state: EmulatorState, params: Params) -> bool:
    """Show "typing…"-style status; only the documented actions are accepted."""
    state.target_chat(params.chat_id())
    if params.opt_str("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


@api_method("answerCallbackQuery")
def answer_callback_query(state: EmulatorState, params: Params) -> bool:
    """Answer a button press once; a second answer or an unknown id is refused."""
    query_id = params.opt_str("callback_query_id") or ""
    query = state.callback_queries.get(query_id)
    if query is None or query.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    answer: dict[str, Any] = {"show_alert": params.opt_bool("show_alert")}
    for key in ("text", "url"):
        if params.has(key):
            answer[key] = params.opt_str(key)
    if params.has("cache_time"):
        answer["cache_time"] = params.opt_int("cache_time")
    query.answer = answer
    return True


@api_method("getChat")
def get_chat(state: EmulatorState, params: Params) -> JSON:
    """A ChatFullInfo for a chat the bot knows."""
    chat_id = params.chat_id()
    chat = state.chats.get(chat_id) if isinstance(chat_id, int) else None
    if chat is None:
        raise bad_request("chat not found")
    return {
        **copy.deepcopy(chat),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        },
    }
