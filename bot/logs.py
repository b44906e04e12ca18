"""The one logging set-up of the bot process, and the filter that keeps secrets out of logs.

The Bot API puts the token in every URL (``/bot<token>/sendMessage``), and httpx logs each
request URL at INFO. Two layers keep it out: httpx/httpcore are quietened to WARNING, and a
filter on every root handler rewrites any record that still contains a secret.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "<redacted>"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log a line per HTTP request (with the token in the URL) at INFO.
CHATTY_LOGGERS = ("httpx", "httpcore")


class RedactSecrets(logging.Filter):
    """Replace every occurrence of the given secrets (raw or URL-encoded) in a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        variants = {form for secret in secrets if secret for form in (secret, quote(secret))}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted(variants, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(level: str, *, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (replacing any earlier set-up)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream or sys.stderr, force=True)
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
