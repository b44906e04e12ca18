"""Retrying Bot API calls that failed for a passing reason (network, 5xx, flood control).

The rate limiter already honours 429 ``retry_after`` for a few rounds; this covers what is
left: timeouts, dropped connections and 5xx answers, with exponential backoff. Requests
Telegram refused for good (400 Bad Request, 403 Forbidden) are not retried.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, a failing call is tried again."""

    # 1 + 3 retries spaced 1, 2, 4 s: rides out a Bot API restart or a dropped connection
    # without keeping a user waiting more than ~10 s for the verdict.
    tries: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delays(self) -> Iterator[float]:
        for attempt in range(self.tries - 1):
            yield min(self.max_delay_s, self.base_delay_s * 2**attempt)


def is_transient(error: BaseException) -> bool:
    """Worth another try: network trouble, 5xx, flood control; not a refused request."""
    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def retry_after_s(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds (PTB is moving it from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Await ``call()``, again after each transient failure; the last error propagates."""
    delays = policy.delays()
    while True:
        try:
            return await call()
        except TelegramError as exc:
            delay = next(delays, None)
            if delay is None or not is_transient(exc):
                raise
            if isinstance(exc, RetryAfter):
                delay = max(delay, retry_after_s(exc))
            logger.warning("%s failed (%s); trying again in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
