"""The emulated Telegram world: the bot, users, chats, messages, files and the update queue."""

from __future__ import annotations

import copy
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tests.bot.emulator.media import FileStore
from tests.bot.emulator.records import JSON, ApiError, Signal, StoredMessage, bad_request

logger = logging.getLogger(__name__)

#: Update types delivered when ``allowed_updates`` was never given (Telegram's default).
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
#: Extra update types that are only sent when asked for explicitly.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def now() -> int:
    """The current Unix time, as every ``date`` field carries it."""
    return int(time.time())


@dataclass
class Webhook:
    """The webhook set with ``setWebhook``."""

    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQuery:
    """A button press the bot has to answer with ``answerCallbackQuery``."""

    update: JSON
    answer: JSON | None = None


@dataclass
class BotSettings:
    """What the bot configured about itself (commands, descriptions, name, menu button)."""

    commands: dict[str, list[JSON]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    menu_buttons: dict[int | None, JSON] = field(default_factory=dict)


class EmulatorState:
    """Everything the emulated server knows; methods and simulated users share it."""

    def __init__(self, token: str, bot_username: str, bot_first_name: str) -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.files = FileStore()
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, JSON] = {}
        self.blocked: set[int] = set()
        self.messages: dict[int, dict[int, StoredMessage]] = {}
        self.inline_messages: dict[str, StoredMessage] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.settings = BotSettings()
        #: Sticker sets by lower-cased name: ``name``, ``title``, ``sticker_type``, ``stickers``.
        self.sticker_sets: dict[str, JSON] = {}
        #: Lower-cased names of sets deleted with deleteStickerSet (not reusable for a while).
        self.deleted_sticker_sets: set[str] = set()
        self.updates: list[JSON] = []
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self.webhook: Webhook | None = None
        self.poll_generation = 0
        #: How many getUpdates requests are blocked in long polling right now.
        self.polls_waiting = 0
        #: Fires whenever :attr:`polls_waiting` changes.
        self.poll_signal = Signal()
        self.closing = False
        #: Fires on every new update, webhook change, poll takeover and on shutdown.
        self.update_signal = Signal()
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._update_ids = itertools.count(100_000_001)
        self._query_ids = itertools.count(4_000_000_000_000_000_001)

    # --- chats and messages -------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Ann", **fields: Any) -> JSON:
        """The simulated user with this id, created on first use."""
        user = self.users.setdefault(
            user_id,
            {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"},
        )
        user.update(fields)
        return user

    def chat_for(self, user: JSON, chat_id: int | None) -> JSON:
        """The chat a user writes in: their private chat, or a group when ``chat_id`` differs."""
        if chat_id is None or chat_id == user["id"]:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
        else:
            kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            chat = self.chats.get(chat_id) or {"id": chat_id, "type": kind, "title": "Test group"}
        self.chats[chat["id"]] = chat
        return chat

    def target_chat(self, chat_id: int | str) -> JSON:
        """The chat a bot call addresses; 400 ``chat not found`` or 403 when blocked."""
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None and isinstance(chat_id, str):
            chat = next(
                (
                    c
                    for c in self.chats.values()
                    if c.get("username") == chat_id.lstrip("@") and c["type"] != "private"
                ),
                None,
            )
        if chat is None:
            raise bad_request("chat not found")
        if chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def store_message(self, chat: JSON, sender: JSON, content: JSON, *, from_bot: bool) -> JSON:
        """Give a new message the chat's next ``message_id``, keep it and return its JSON."""
        counter = self._message_ids.setdefault(chat["id"], itertools.count(1))
        message = {
            "message_id": next(counter),
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat),
            "date": now(),
            **content,
        }
        self.messages.setdefault(chat["id"], {})[message["message_id"]] = StoredMessage(
            data=message, from_bot=from_bot
        )
        return copy.deepcopy(message)

    def find_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """A message that still exists (not deleted) in that chat."""
        stored = self.messages.get(chat_id, {}).get(message_id)
        return None if stored is None or stored.deleted else stored

    def reply_target(self, chat: JSON, message_id: int | None, allow_missing: bool) -> JSON:
        """The ``reply_to_message`` field for a reply, or {} (400 when the target is gone)."""
        if message_id is None:
            return {}
        target = self.find_message(chat["id"], message_id)
        if target is None:
            if allow_missing:
                return {}
            raise bad_request("message to be replied not found")
        replied = copy.deepcopy(target.data)
        replied.pop("reply_to_message", None)
        return {"reply_to_message": replied}

    # --- updates ------------------------------------------------------------------------

    def add_update(self, kind: str, payload: JSON) -> JSON:
        """Queue an update (unless ``allowed_updates`` filters it out) and return it."""
        update = {"update_id": next(self._update_ids), kind: copy.deepcopy(payload)}
        if kind not in self.allowed_updates:
            logger.debug("not queueing %s update: not in allowed_updates", kind)
            return update
        self.updates.append(update)
        self.update_signal.fire()
        return copy.deepcopy(update)

    def set_allowed_updates(self, allowed: list[Any] | None) -> None:
        """Apply ``allowed_updates`` from getUpdates/setWebhook (``None`` keeps the last)."""
        if allowed is None:
            return
        chosen = frozenset(str(kind) for kind in allowed)
        self.allowed_updates = chosen or DEFAULT_ALLOWED_UPDATES

    def confirm(self, offset: int) -> None:
        """Forget updates before ``offset`` (negative: keep only the last ``-offset``)."""
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def next_callback_query_id(self) -> str:
        """A fresh callback query id (a long decimal string, as Telegram's are)."""
        return str(next(self._query_ids))
