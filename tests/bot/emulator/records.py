"""Plain data the emulator records and exposes to tests: calls, uploads, faults, errors."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON = dict[str, Any]


class UploadedFile(NamedTuple):
    """One file part of a ``multipart/form-data`` request: ``(filename, content_type, data)``."""

    filename: str | None
    content_type: str
    data: bytes


class ApiError(Exception):
    """A Bot API error reply: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        """The JSON body Telegram would answer with."""
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    """A 400 whose description reads ``Bad Request: <reason>`` like Telegram's."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made, as the emulator saw and answered it.

    ``method`` is the canonical Bot API name (``sendMessage`` even if the bot wrote
    ``sendmessage``), or ``"download"`` for a file download. ``params`` holds the decoded
    values (numbers, booleans and JSON-serialised objects such as ``reply_markup`` decoded;
    free-text fields such as ``text`` kept as strings). ``files`` maps a multipart part name
    (``document``, or the ``attach://`` name) to the upload. ``status`` is the HTTP status
    (0 when the connection was dropped on purpose) and ``response`` the JSON answer
    (``None`` for downloads and dropped connections).
    """

    method: str
    params: JSON
    files: dict[str, UploadedFile]
    status: int
    response: JSON | None
    http_method: str = "POST"

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (HTTP 200)."""
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` of a successful reply (``None`` otherwise)."""
        return None if self.response is None else self.response.get("result")

    @property
    def description(self) -> str | None:
        """The error ``description`` of a failed reply."""
        return None if self.response is None else self.response.get("description")


@dataclass
class Fault:
    """A queued failure for the next ``times`` calls of one method (see ``fail``)."""

    error_code: int
    description: str
    parameters: JSON | None
    times: int
    drop_connection: bool


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook: its HTTP status or the error."""

    url: str
    update: JSON
    status: int | None
    error: str | None


class Signal:
    """Wakes every task currently waiting on it whenever it fires (a re-armed event)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Wake all current waiters."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float | None) -> None:
        """Wait until the next :meth:`fire` or until ``seconds`` pass (``None``: no limit)."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


@dataclass
class StoredMessage:
    """A message in a chat as the emulator keeps it: the current Message JSON and its history."""

    data: JSON
    from_bot: bool
    deleted: bool = False
    history: list[JSON] = field(default_factory=list)
