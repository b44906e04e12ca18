"""The "Add to my pack" button under each sticker, ``/pack`` and ``/emoji`` (see bot.packs)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, ReplyParameters, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import choices, texts
from bot.packs import MAX_STATIC_STICKERS, AddResult, Outcome, PackMaker, parse_emoji
from bot.services import Services

logger = logging.getLogger(__name__)

# /emoji with one of these goes back to each class's own emoji.
EMOJI_RESET_WORDS = frozenset({"auto", "reset", "default", "off"})


def result_text(result: AddResult, bot_username: str) -> str:
    """What the user reads after pressing "Add to my pack"."""
    pack = result.pack
    match result.outcome:
        case Outcome.CREATED if pack is not None:
            return texts.pack_created(pack.link)
        case Outcome.ADDED if pack is not None:
            return texts.pack_added(pack.link, pack.count)
        case Outcome.STARTED_NEXT if pack is not None and result.full is not None:
            return texts.pack_started_next(result.full.link, pack.link, MAX_STATIC_STICKERS)
        case Outcome.ALREADY if pack is not None:
            return texts.pack_already(pack.link)
        case Outcome.EXPIRED:
            return texts.PACK_EXPIRED
        case Outcome.NOT_STARTED:
            return texts.pack_not_started(bot_username)
        case Outcome.FLOOD:
            return texts.pack_flood(result.retry_after_s)
        case Outcome.UNREACHABLE:
            return texts.PACK_UNREACHABLE
    return texts.PACK_FAILED


class Packs:
    def __init__(self, services: Services) -> None:
        self.maker = PackMaker(services.journal)

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The "Add to my pack" button: the presser's pack gets the sticker, said in a reply."""
        query = update.callback_query
        assert query is not None
        job_id = choices.decode_pack(query.data)
        message = query.message
        if job_id is None or not isinstance(message, Message):
            await query.answer(texts.PACK_EXPIRED, show_alert=True)
            return
        try:
            # Stop the button's spinner now: making a pack takes a few Bot API calls.
            await query.answer()
        except TelegramError as exc:
            logger.info("could not answer a pack button press: %s", exc)
        user = query.from_user
        result = await self.maker.add(
            context.bot,
            user_id=user.id,
            first_name=user.first_name,
            job_id=job_id,
            chat_id=message.chat.id,
        )
        logger.info("pack button of job %d for user %d: %s", job_id, user.id, result.outcome)
        await context.bot.send_message(
            message.chat.id,
            result_text(result, context.bot.username),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )

    async def pack(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/pack: the links and sizes of the user's packs."""
        message, user = update.effective_message, update.effective_user
        assert message is not None
        if user is None:
            return
        packs = await self.maker.packs(user.id)
        await message.reply_text(texts.packs_list([(p.link, p.count) for p in packs]))

    async def emoji(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/emoji 😺 sets the emoji of the next additions; /emoji shows it; /emoji auto resets."""
        message, user = update.effective_message, update.effective_user
        assert message is not None
        if user is None:
            return
        store = self.maker
        argument = " ".join(context.args or ()).strip()
        if not argument:
            await message.reply_text(texts.emoji_show(await store.emoji(user.id)))
            return
        if argument.lower() in EMOJI_RESET_WORDS:
            await store.set_emoji(user.id, None)
            await message.reply_text(texts.emoji_set(None))
            return
        emoji = parse_emoji(argument)
        if emoji is None:
            await message.reply_text(texts.EMOJI_INVALID)
            return
        await store.set_emoji(user.id, emoji)
        await message.reply_text(texts.emoji_set(emoji))


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    packs = Packs(services)
    return [
        CommandHandler("pack", packs.pack),
        CommandHandler("emoji", packs.emoji),
        CallbackQueryHandler(packs.press, pattern=choices.PACK_PATTERN),
    ]
