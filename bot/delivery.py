"""Sending a job's answer exactly once, then closing the job in the journal.

An answer is a few messages (the PNG document, the WEBP sticker, an edit of the "Queued"
message; or an explanation). Each part is looked up in the journal before it is sent and
recorded right after, and the job is marked finished only when every part is out: a
restart in the middle resends only what is missing. (A part whose send succeeded but whose
record did not reach the disk -- a kill in that millisecond -- is the one window left.)

The sticker carries an "Add to my pack" button (:mod:`bot.packs`); the file_ids Telegram gives
the sent document and sticker are recorded with them, so the button can use them later.
The PNG document is the product: when it is out and only the WEBP preview fails for good,
the job is done and the button moves under the PNG.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot import choices, i18n, texts
from bot.jobs import Job, JobState
from bot.journal import Journal
from bot.refusals import unreachable
from bot.results import ErrorKind, JobResult
from bot.retry import RetryPolicy, with_retries
from bot.stats import Stats
from segmentation.classes import VOC_CLASSES

logger = logging.getLogger(__name__)

# Buttons offered when the asked-for class is absent: the largest few detected classes.
MAX_CHOICES = 6
STICKER_OUTCOME = "sticker"
_CLOSED = (JobState.DONE, JobState.FAILED)


class Delivery:
    def __init__(
        self,
        bot: Bot,
        journal: Journal,
        stats: Stats,
        retry: RetryPolicy,
        *,
        classes: Sequence[str] = VOC_CLASSES,
    ) -> None:
        self._classes = tuple(classes)
        self._bot = bot
        self._journal = journal
        self._stats = stats
        self._retry = retry

    async def answer(self, job: Job, result: JobResult) -> None:
        """Send the sticker (or the explanation) of a computed job and close it, in the
        chat's language."""
        with i18n.use(await self._language(job)):
            if result.ok:
                await self._sticker(job, result)
            else:
                await self._explain(job, result.error or ErrorKind.INTERNAL, result)

    async def chat_action(self, job: Job) -> None:
        """Show "sending a file..." while the model works; purely cosmetic, never fails."""
        try:
            await self._bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_DOCUMENT)
        except TelegramError as exc:
            logger.debug("chat action for job %d failed: %s", job.id, exc)

    async def _sticker(self, job: Job, result: JobResult) -> None:
        png, webp, reply = result.png, result.webp, self._reply_to(job)
        assert png is not None
        assert result.target is not None
        await self._journal.set_result_class(job.id, result.target)
        try:
            await self._once(
                job,
                "document",
                lambda: _message_id(
                    self._bot.send_document(
                        job.chat_id,
                        png,
                        filename=f"sticker_{job.id}_{result.target}.png",
                        caption=texts.document_caption(result.target, result.crf),
                        reply_parameters=reply,
                        reply_markup=None if webp is not None else _pack_button(job),
                    )
                ),
            )
        except TelegramError as exc:
            logger.warning("could not send the sticker of job %d: %s", job.id, exc)
            await self._explain(job, ErrorKind.INTERNAL, result, reachable=not unreachable(exc))
            return
        if webp is not None:
            try:
                await self._once(
                    job,
                    "sticker",
                    lambda: _message_id(
                        self._bot.send_sticker(
                            job.chat_id,
                            webp,
                            reply_parameters=reply,
                            reply_markup=_pack_button(job),
                        )
                    ),
                )
            except TelegramError as exc:
                if unreachable(exc):
                    await self._explain(job, ErrorKind.INTERNAL, result, reachable=False)
                    return
                # The PNG, the sticker-ready product, is out: the job is done without its
                # preview, and the pack button moves under the PNG.
                logger.warning(
                    "job %d: the PNG went out, its sticker preview failed: %s", job.id, exc
                )
                await self._pack_button_under_document(job)
        await self._status(job, texts.status_done(job.id, result.target, result.crf))
        await self._journal.finish(job.id, JobState.DONE, STICKER_OUTCOME, result.target)
        self._stats.outcome(STICKER_OUTCOME, result.target)

    async def explain(self, job: Job, kind: ErrorKind) -> None:
        """Tell the user, in the chat's language, why there is no sticker."""
        with i18n.use(await self._language(job)):
            await self._explain(job, kind)

    async def _explain(
        self,
        job: Job,
        kind: ErrorKind,
        result: JobResult | None = None,
        *,
        reachable: bool = True,
    ) -> None:
        """Tell the user why there is no sticker (with class buttons when none was found)."""
        if kind is ErrorKind.NO_OBJECT and result is not None:
            text, markup = _no_object(job, result, self._classes)
            part, state, outcome = "choice", JobState.DONE, "no_object"
        else:
            text, markup = texts.ERROR_TEXTS[kind], None
            part, state, outcome = "error", JobState.FAILED, "failed"
        if reachable:
            try:
                await self._once(
                    job,
                    part,
                    lambda: _message_id(
                        self._bot.send_message(
                            job.chat_id,
                            text,
                            reply_markup=markup,
                            reply_parameters=self._reply_to(job),
                        )
                    ),
                )
            except TelegramError as exc:
                logger.error("could not tell chat %d about job %d: %s", job.chat_id, job.id, exc)
            else:
                await self._status(job, texts.status_failed(job.id))
        await self._journal.finish(job.id, state, kind.value, None)
        self._stats.outcome(outcome)

    async def _language(self, job: Job) -> str:
        """The chat's language (no update is at hand: the one Telegram last sent is kept)."""
        settings = await self._journal.chat_settings(job.chat_id)
        return i18n.resolve(settings.language, settings.telegram_language)

    async def _once(self, job: Job, part: str, send: Callable[[], Awaitable[_Sent]]) -> None:
        if part in await self._journal.sent_parts(job.id):
            logger.info("job %d: %s already sent before a restart, not again", job.id, part)
            return
        message_id, file_id = await with_retries(
            send, self._retry, f"sending the {part} of job {job.id}"
        )
        await self._journal.record_sent(job.id, part, message_id, file_id)

    async def _pack_button_under_document(self, job: Job) -> None:
        document = (await self._journal.sent_parts(job.id)).get("document")
        if document is None:
            return
        try:
            await self._once(
                job,
                "button",
                lambda: _message_id(
                    self._bot.edit_message_reply_markup(
                        job.chat_id, document, reply_markup=_pack_button(job)
                    )
                ),
            )
        except TelegramError as exc:
            logger.info("could not add the pack button to job %d's PNG: %s", job.id, exc)

    async def _status(self, job: Job, text: str) -> None:
        """Edit the "Queued, #N" message; a message gone or unchanged is no failure. An
        album's photos share one: it counts them instead."""
        if job.status_message_id is None:
            return
        message_id = job.status_message_id
        album = await self._journal.sharing_status(job)
        if len(album) > 1:
            # This job is answered; its state is closed right after.
            answered = sum(state in _CLOSED or id_ == job.id for id_, state in album)
            text = texts.album_status(answered, len(album), album[0][0], album[-1][0])
        try:
            await self._once(
                job,
                "status",
                lambda: _message_id(self._bot.edit_message_text(text, job.chat_id, message_id)),
            )
        except TelegramError as exc:
            logger.info("could not edit the status of job %d: %s", job.id, exc)

    @staticmethod
    def _reply_to(job: Job) -> ReplyParameters:
        return ReplyParameters(message_id=job.message_id, allow_sending_without_reply=True)


# A sent part: its message id and, for a file, the file_id Telegram stored it as.
_Sent = tuple[int | None, str | None]


async def _message_id(sent: Awaitable[Message | bool]) -> _Sent:
    result = await sent
    if not isinstance(result, Message):
        return None, None
    media = result.sticker or result.document
    return result.message_id, None if media is None else media.file_id


def _pack_button(job: Job) -> InlineKeyboardMarkup:
    """The "Add to my pack" button: under the sticker (or the PNG when there is no preview)."""
    button = InlineKeyboardButton(texts.ADD_TO_PACK, callback_data=choices.encode_pack(job.id))
    return InlineKeyboardMarkup([[button]])


def _no_object(
    job: Job, result: JobResult, classes: Sequence[str]
) -> tuple[str, InlineKeyboardMarkup | None]:
    detected = dict(list(result.detected.items())[:MAX_CHOICES])
    text = texts.no_object(result.target, detected)
    if not detected:
        return text, None
    buttons = [
        InlineKeyboardButton(
            texts.class_name(name), callback_data=choices.encode(job.id, name, classes)
        )
        for name in detected
    ]
    # Two buttons a row keeps class names readable on a phone.
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return text, InlineKeyboardMarkup(rows)
