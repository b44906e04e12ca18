"""The error tree of the sticker pipeline.

Every error a caller can act on derives from :class:`StickerError`; each message states
the value that was received so that a log line or a CLI message is self-explanatory.
The bot maps each subclass to a friendly reply in one place (``bot/texts.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class StickerError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class InvalidImage(StickerError):
    """The bytes are not an image we can decode (corrupt, truncated, not an image)."""


class ImageTooLarge(StickerError):
    """The file or the decoded image exceeds a limit (bytes or pixels)."""


class UnknownClass(StickerError, ValueError):
    """A class name that is neither a PASCAL VOC class nor one of its aliases.

    ``suggestions`` are the closest known classes (canonical names, best first), if any.
    """

    def __init__(self, message: str, *, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions = list(suggestions)


class NoObjectFound(StickerError):
    """No object of the requested class was found in the photo.

    ``detected`` maps the classes that *were* found to their share of the pixels, so a
    caller can offer them instead.
    """

    def __init__(self, target: str, detected: Mapping[str, float]) -> None:
        self.target = target
        self.detected = dict(detected)
        if self.detected:
            found = ", ".join(f"{name} ({share:.0%})" for name, share in self.detected.items())
        else:
            found = "nothing"
        wanted = "object of any PASCAL VOC class" if target == "auto" else repr(target)
        super().__init__(f"no {wanted} found in the photo; detected: {found}")


class ModelUnavailable(StickerError):
    """The model or its weights cannot be loaded; the message says how to get them."""


class DatasetError(StickerError):
    """A dataset folder is empty or malformed; the message names the path and the problem."""
