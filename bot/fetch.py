"""Downloading a job's photo from Telegram (getFile, then the file), within the size limit."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.jobs import Job
from bot.refusals import Refused, classify
from bot.results import ErrorKind
from bot.retry import RetryPolicy, with_retries

logger = logging.getLogger(__name__)


class FileTooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(f"file of {size or 'too many'} bytes")
        self.size = size


class FetchFailed(Exception):
    """The photo could not be had; ``kind`` is what the user is told."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class PhotoFetcher:
    def __init__(self, bot: Bot, *, max_bytes: int, retry: RetryPolicy) -> None:
        self._bot = bot
        self._max_bytes = max_bytes
        self._retry = retry

    async def __call__(self, job: Job) -> bytes:
        """The photo's bytes; raises :class:`FetchFailed` (already logged)."""
        try:
            return await self._download(job)
        except FileTooLarge as exc:
            logger.info("job %d: refused a %s", job.id, exc)
            raise FetchFailed(ErrorKind.TOO_LARGE, str(exc)) from exc
        except TelegramError as exc:
            logger.warning("job %d: could not download the photo: %s", job.id, exc)
            raise FetchFailed(ErrorKind.DOWNLOAD_FAILED, str(exc)) from exc

    async def _download(self, job: Job) -> bytes:
        what = f"downloading the photo of job {job.id}"
        try:
            file = await with_retries(lambda: self._bot.get_file(job.file_id), self._retry, what)
        except BadRequest as exc:
            # A file whose size the message did not declare, above Telegram's bot limit.
            if classify(exc) is Refused.FILE_TOO_BIG:
                raise FileTooLarge(None) from exc
            raise
        if file.file_size is not None and file.file_size > self._max_bytes:
            raise FileTooLarge(file.file_size)
        if not (file.file_path or "").startswith(f"{self._bot.base_file_url}/"):
            # PTB leaves a file_path that names an existing local file as it is and reads that
            # file from our disk (meant for local Bot API servers; we run none): whatever
            # getFile answers, the bot never reads a local file as a user's photo.
            raise TelegramError(f"getFile gave job {job.id} no download URL; not reading it")
        data = bytes(await with_retries(file.download_as_bytearray, self._retry, what))
        if len(data) > self._max_bytes:
            raise FileTooLarge(len(data))
        return data
