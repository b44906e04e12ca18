"""Simulated Telegram users: what a test does to make the bot receive updates.

These are plain (non-async) methods: each builds the Message or CallbackQuery the real
client would produce, stores it, and queues an Update for getUpdates (or the webhook).
A private chat has ``chat.id == user.id``; passing another ``chat_id`` puts the user in a
group (negative ids; ``<= -10**12`` makes it a supergroup).
"""

from __future__ import annotations

import copy
import logging
import secrets
from typing import Any

from tests.bot.emulator.formatting import command_entities
from tests.bot.emulator.media import make_document, make_photo, make_sticker, make_video
from tests.bot.emulator.records import JSON, StoredMessage
from tests.bot.emulator.state import CallbackQuery, EmulatorState, now

logger = logging.getLogger(__name__)

# Telegram's limit on the items of one album (media group).
MAX_ALBUM = 10


class UserActions:
    """Mixin for :class:`BotApiEmulator`: the test-side actions of simulated users."""

    _state: EmulatorState

    def _user_message(
        self,
        user_id: int,
        content: JSON,
        *,
        first_name: str,
        chat_id: int | None,
        reply_to: JSON | None = None,
    ) -> JSON:
        state = self._state
        user = state.user(user_id, first_name)
        chat = state.chat_for(user, chat_id)
        if chat["id"] in state.blocked:
            self.unblock_bot(user_id)
        if reply_to is not None:
            content = {**content, **state.reply_target(chat, reply_to["message_id"], True)}
        message = state.store_message(chat, user, content, from_bot=False)
        return state.add_update("message", message)

    @staticmethod
    def _caption(caption: str | None) -> JSON:
        if not caption:
            return {}
        content: JSON = {"caption": caption}
        entities = command_entities(caption)
        if entities:
            content["caption_entities"] = entities
        return content

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Ann",
        chat_id: int | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        """The user sends ``text`` (``/commands`` get ``bot_command`` entities); returns the
        Update."""
        content: JSON = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(
            user_id, content, first_name=first_name, chat_id=chat_id, reply_to=reply_to
        )

    def send_photo(
        self,
        user_id: int,
        jpeg_bytes: bytes,
        *,
        caption: str | None = None,
        first_name: str = "Ann",
        chat_id: int | None = None,
    ) -> JSON:
        """The user sends a photo: several PhotoSizes (thumbnails, then the original bytes)."""
        sizes = make_photo(self._state.files, jpeg_bytes)
        return self._user_message(
            user_id,
            {"photo": sizes, **self._caption(caption)},
            first_name=first_name,
            chat_id=chat_id,
        )

    def send_album(
        self,
        user_id: int,
        photos: list[bytes],
        *,
        caption: str | None = None,
        first_name: str = "Ann",
        chat_id: int | None = None,
    ) -> list[JSON]:
        """The user sends 2-10 photos as one album: one message (and one Update) per photo,
        all with the same ``media_group_id``, the caption on the first, like Telegram does.
        Returns the Updates."""
        if not 2 <= len(photos) <= MAX_ALBUM:
            raise ValueError(f"an album has 2-{MAX_ALBUM} items, not {len(photos)}")
        group_id = str(secrets.randbits(62))
        return [
            self._user_message(
                user_id,
                {
                    "photo": make_photo(self._state.files, data),
                    "media_group_id": group_id,
                    **self._caption(caption if index == 0 else None),
                },
                first_name=first_name,
                chat_id=chat_id,
            )
            for index, data in enumerate(photos)
        ]

    def set_user(self, user_id: int, *, language_code: str | None, first_name: str = "Ann") -> JSON:
        """What Telegram tells bots about a user: ``language_code`` is the user's interface
        language (an IETF tag such as ``ru`` or ``pt-br``), absent when unknown (None)."""
        user = self._state.user(user_id, first_name)
        if language_code is None:
            user.pop("language_code", None)
        else:
            user["language_code"] = language_code
        return copy.deepcopy(user)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        declared_file_size: int | None = None,
        first_name: str = "Ann",
        chat_id: int | None = None,
    ) -> JSON:
        """The user sends a file. ``declared_file_size`` overrides ``file_size`` (the stored
        bytes stay small), e.g. to check the bot refuses a 30 MB file before downloading it;
        getFile refuses files declared above 20 MB with ``Bad Request: file is too big``."""
        document = make_document(
            self._state.files,
            data,
            file_name=file_name,
            mime_type=mime_type,
            file_size=declared_file_size,
        )
        return self._user_message(
            user_id,
            {"document": document, **self._caption(caption)},
            first_name=first_name,
            chat_id=chat_id,
        )

    def send_video(
        self,
        user_id: int,
        data: bytes,
        *,
        width: int = 640,
        height: int = 360,
        duration: int = 3,
        file_name: str | None = "video.mp4",
        mime_type: str = "video/mp4",
        caption: str | None = None,
        declared_file_size: int | None = None,
        first_name: str = "Ann",
        chat_id: int | None = None,
    ) -> JSON:
        """The user sends a video (dimensions/duration as given; the bytes are not decoded)."""
        video = make_video(
            self._state.files,
            data,
            width=width,
            height=height,
            duration=duration,
            file_name=file_name,
            mime_type=mime_type,
            file_size=declared_file_size,
        )
        return self._user_message(
            user_id,
            {"video": video, **self._caption(caption)},
            first_name=first_name,
            chat_id=chat_id,
        )

    def send_sticker(
        self,
        user_id: int,
        data: bytes | None = None,
        *,
        file_id: str | None = None,
        emoji: str = "🙂",
        set_name: str | None = None,
        first_name: str = "Ann",
        chat_id: int | None = None,
    ) -> JSON:
        """The user sends a sticker: new bytes (WEBP/PNG/.tgs/.webm) or an existing file_id."""
        if file_id is not None:
            stored = self._state.files.get(file_id)
            if stored is None or stored.kind != "sticker":
                raise ValueError(f"{file_id!r} is not a stored sticker")
            sticker = copy.deepcopy(stored.media)
        elif data is not None:
            sticker = make_sticker(self._state.files, data, emoji=emoji, set_name=set_name)
        else:
            raise ValueError("pass the sticker bytes or a file_id")
        return self._user_message(
            user_id, {"sticker": sticker}, first_name=first_name, chat_id=chat_id
        )

    def press_button(
        self, user_id: int, message: JSON, callback_data: str, *, first_name: str = "Ann"
    ) -> JSON:
        """The user presses the inline button with ``callback_data`` on a bot message.

        The button must exist on the message's *current* keyboard (edits applied), exactly
        as a real user can only press what they see. Returns the callback_query Update.
        """
        state = self._state
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        stored = state.find_message(chat_id, message_id)
        if stored is None or not stored.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        rows = stored.data.get("reply_markup", {}).get("inline_keyboard", [])
        offered = [button.get("callback_data") for row in rows for button in row]
        if callback_data not in offered:
            raise ValueError(
                f"message {message_id} has no button {callback_data!r}; it offers {offered}"
            )
        query_id = state.next_callback_query_id()
        query = {
            "id": query_id,
            "from": copy.deepcopy(state.user(user_id, first_name)),
            "message": copy.deepcopy(stored.data),
            "chat_instance": str(abs(chat_id) * 7919 + 17),
            "data": callback_data,
        }
        update = state.add_update("callback_query", query)
        state.callback_queries[query_id] = CallbackQuery(update)
        return update

    def callback_answer(self, query_id: str) -> JSON | None:
        """How the bot answered a button press (``text``, ``show_alert`` ...), if it did."""
        query = self._state.callback_queries.get(query_id)
        return None if query is None else copy.deepcopy(query.answer)

    def block_bot(self, user_id: int) -> JSON:
        """The user blocks the bot: later sends get 403 ``Forbidden: bot was blocked by the
        user``; the bot receives a ``my_chat_member`` update (status ``kicked``)."""
        self._state.blocked.add(user_id)
        return self._member_update(user_id, "member", "kicked")

    def unblock_bot(self, user_id: int) -> JSON:
        """The user unblocks (restarts) the bot."""
        self._state.blocked.discard(user_id)
        return self._member_update(user_id, "kicked", "member")

    def _member_update(self, user_id: int, old: str, new: str) -> JSON:
        state = self._state
        user = state.user(user_id)
        chat = state.chat_for(user, None)
        bot: dict[str, Any] = dict(state.bot_user)
        change = {
            "chat": chat,
            "from": user,
            "date": now(),
            "old_chat_member": {"status": old, "user": bot},
            "new_chat_member": {"status": new, "user": bot, "until_date": 0}
            if new == "kicked"
            else {"status": new, "user": bot},
        }
        return state.add_update("my_chat_member", change)

    def add_file(
        self,
        data: bytes,
        *,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        declared_file_size: int | None = None,
    ) -> str:
        """Store a document server-side without any message; returns its ``file_id``."""
        document = make_document(
            self._state.files,
            data,
            file_name=file_name,
            mime_type=mime_type,
            file_size=declared_file_size,
        )
        return str(document["file_id"])

    def add_inline_message(self, text: str, *, reply_markup: JSON | None = None) -> str:
        """A message sent via the bot in inline mode; returns its ``inline_message_id``
        (for ``editMessageText(inline_message_id=...)``, which then returns ``True``)."""
        inline_id = f"AgAAA{len(self._state.inline_messages) + 1:06d}"
        data: JSON = {"text": text}
        if reply_markup is not None:
            data["reply_markup"] = reply_markup
        self._state.inline_messages[inline_id] = StoredMessage(data=data, from_bot=True)
        return inline_id
