"""What crosses the inference boundary: plain, picklable data only.

The worker hands the engine ``(bytes, StickerOptions)`` and gets a :class:`JobResult` back,
so the engine could move to another process (or machine) without the bot changing. Every way
a job can fail is an :class:`ErrorKind`; ``bot/texts.py`` maps each kind to one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from segmentation.errors import (
    ImageTooLarge,
    InvalidImage,
    ModelUnavailable,
    NoObjectFound,
    StickerError,
    UnknownClass,
)


class ErrorKind(StrEnum):
    """Why a job ended without a sticker."""

    INVALID_IMAGE = "invalid_image"
    TOO_LARGE = "too_large"
    NO_OBJECT = "no_object"
    UNKNOWN_CLASS = "unknown_class"
    MODEL_UNAVAILABLE = "model_unavailable"
    # The model (or our code around it) raised something it should not have.
    INTERNAL = "internal"
    # Telegram would not give us the file after retries.
    DOWNLOAD_FAILED = "download_failed"
    # The job was taken up MAX_ATTEMPTS times (restarts, crashes) without finishing.
    GAVE_UP = "gave_up"


# Most specific first: the first matching class wins.
_KIND_OF_ERROR: tuple[tuple[type[StickerError], ErrorKind], ...] = (
    (NoObjectFound, ErrorKind.NO_OBJECT),
    (ImageTooLarge, ErrorKind.TOO_LARGE),
    (InvalidImage, ErrorKind.INVALID_IMAGE),
    (UnknownClass, ErrorKind.UNKNOWN_CLASS),
    (ModelUnavailable, ErrorKind.MODEL_UNAVAILABLE),
)


def kind_of(error: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of an exception raised by the pipeline."""
    for error_type, kind in _KIND_OF_ERROR:
        if isinstance(error, error_type):
            return kind
    return ErrorKind.INTERNAL


@dataclass(frozen=True, slots=True)
class JobResult:
    """A sticker (``png`` set) or an error (``error`` set), plus what was learned."""

    png: bytes | None = None
    webp: bytes | None = None
    # The class cut out (for an error: the class that was asked for).
    target: str = ""
    crf: bool = True
    # Class name -> share of the photo's pixels, largest first.
    detected: dict[str, float] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: ErrorKind | None = None
    # The exception's message, for logs only: never shown to users.
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None
