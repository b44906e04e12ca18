"""Accepting a photo as a job: journal first, then the queue (shared by photos and buttons)."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.jobs import Admission, Job
from bot.journal import Journal
from bot.stats import Stats
from bot.worker import Worker
from segmentation.options import DEFAULT_OUTLINE_STYLE

logger = logging.getLogger(__name__)


class Intake:
    def __init__(
        self, journal: Journal, worker: Worker, stats: Stats, *, queue_max: int, user_max: int
    ) -> None:
        self._journal = journal
        self._worker = worker
        self._stats = stats
        self._queue_max = queue_max
        self._user_max = user_max

    async def admit(
        self,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        file_id: str,
        target: str,
        crf: bool,
        style: str = DEFAULT_OUTLINE_STYLE,
    ) -> Admission:
        """Record the job (before anything is said to the user), or refuse it."""
        admission = await self._journal.call(
            self._journal.jobs.accept,
            chat_id=chat_id,
            user_id=user_id,
            message_id=message_id,
            file_id=file_id,
            target=target,
            crf=crf,
            style=style,
            queue_max=self._queue_max,
            user_max=self._user_max,
        )
        if admission.refused is not None:
            self._stats.reject(admission.refused.value)
        elif admission.job is not None and not admission.duplicate:
            self._stats.accepted(user_id)
            logger.info("job %d accepted from user %d", admission.job.id, user_id)
        return admission

    async def enqueue(self, job: Job, status_message_id: int | None) -> bool:
        """Hand an admitted job to the worker, with the message to edit when it is done."""
        if status_message_id is not None:
            await self._journal.set_status_message(job.id, status_message_id)
            job = replace(job, status_message_id=status_message_id)
        if await self._worker.submit(job):
            return True
        # Only while shutting down : the job
        # stays queued in the journal and the next start takes it up.
        logger.info("job %d left in the journal for the next start", job.id)
        return False
