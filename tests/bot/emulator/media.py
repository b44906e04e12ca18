"""Stored files and the media objects Telegram builds from them (Document, PhotoSize, Sticker).

Every file the bot uploads or a simulated user sends is kept in memory with a Telegram-like
``file_id`` (long, opaque, kind-specific prefix), a ``file_unique_id`` derived from the
content, and a ``file_path`` such as ``documents/file_3.pdf`` that the download URL uses.
Images are really decoded with Pillow, so sizes and dimensions are the true ones.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import logging
import mimetypes
import secrets
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.bot.emulator.records import JSON, bad_request

logger = logging.getLogger(__name__)

#: Telegram's limits: bots download up to 20 MB, photos are at most 10 MB.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
#: Thumbnail boxes Telegram generates for photos (types s, m, x, y), then the original (w).
PHOTO_BOXES = (90, 320, 800, 1280)
PHOTO_MAX_SIDE = 2560

_PREFIX = {
    "document": "BQACAgIAAxkBAAI",
    "photo": "AgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "thumbnail": "AAMCAgADGQEAAI",
}
_FOLDER = {
    "document": "documents",
    "photo": "photos",
    "sticker": "stickers",
    "video": "videos",
    "thumbnail": "thumbnails",
}
_IMAGE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass
class StoredFile:
    """One stored file: its bytes, its identifiers and the media object built for it."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_size: int
    file_path: str
    mime_type: str | None = None
    #: The JSON sent for this file (a Document, Sticker, Video dict, or a PhotoSize list).
    media: Any = None
    extra: JSON = field(default_factory=dict)

    def ids(self) -> JSON:
        """``file_id``, ``file_unique_id`` and ``file_size``, the fields every file object has."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
        }

    def file_json(self) -> JSON:
        """The File object ``getFile`` returns."""
        return {**self.ids(), "file_path": self.file_path}


class FileStore:
    """All stored files, by ``file_id`` and by ``file_path``."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._numbers = itertools.count(1)

    def add(
        self,
        data: bytes,
        *,
        kind: str,
        extension: str,
        mime_type: str | None = None,
        file_size: int | None = None,
    ) -> StoredFile:
        """Store ``data``; ``file_size`` may declare a bigger size than the bytes kept."""
        number = next(self._numbers)
        file_id = _PREFIX.get(kind, _PREFIX["document"]) + secrets.token_urlsafe(45)
        digest = hashlib.sha256(data + kind.encode()).digest()
        unique = "AQAD" + base64.urlsafe_b64encode(digest[:9]).decode()
        path = f"{_FOLDER.get(kind, 'documents')}/file_{number}.{extension.lstrip('.')}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            data=data,
            file_size=len(data) if file_size is None else file_size,
            file_path=path,
            mime_type=mime_type,
        )
        self._by_id[file_id] = stored
        self._by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file with this ``file_id``, if any."""
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """The file served at ``/file/bot<token>/<file_path>``, if any."""
        return self._by_path.get(file_path)


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _thumbnail(store: FileStore, image: Image.Image, box: int, fmt: str = "JPEG") -> JSON:
    small = image.convert("RGBA" if fmt == "WEBP" else "RGB")
    small.thumbnail((box, box))
    extension = "webp" if fmt == "WEBP" else "jpg"
    stored = store.add(_encode(small, fmt), kind="thumbnail", extension=extension)
    size = {**stored.ids(), "width": small.width, "height": small.height}
    stored.media = size
    return size


def guess_extension(file_name: str | None, mime_type: str | None) -> str:
    """A file extension for the stored path, from the name or else the MIME type."""
    if file_name and "." in file_name:
        return file_name.rsplit(".", 1)[1].lower()
    guessed = mimetypes.guess_extension(mime_type or "", strict=False)
    return (guessed or ".bin").lstrip(".")


def make_document(
    store: FileStore,
    data: bytes,
    *,
    file_name: str | None,
    mime_type: str | None,
    file_size: int | None = None,
) -> JSON:
    """Store a document and build its Document object (with a thumbnail for images)."""
    if not mime_type or mime_type == "application/octet-stream":
        guessed = mimetypes.guess_type(file_name or "", strict=False)[0]
        mime_type = guessed or mime_type or "application/octet-stream"
    stored = store.add(
        data,
        kind="document",
        extension=guess_extension(file_name, mime_type),
        mime_type=mime_type,
        file_size=file_size,
    )
    document: JSON = stored.ids()
    if file_name:
        document["file_name"] = file_name
    document["mime_type"] = mime_type
    if mime_type.startswith("image/"):
        try:
            with Image.open(io.BytesIO(data)) as image:
                document["thumbnail"] = _thumbnail(store, image, 320)
        except _IMAGE_ERRORS:
            logger.debug("document %s is not a readable image; no thumbnail", file_name)
    stored.media = document
    return document


def make_photo(store: FileStore, data: bytes) -> list[JSON]:
    """Store a photo like Telegram: JPEG thumbnails for each smaller box, then the original.

    The largest size keeps the uploaded bytes when they are a JPEG no wider than 2560 px;
    anything else is re-encoded as JPEG (as Telegram always does).
    """
    if len(data) > MAX_PHOTO_BYTES:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            sizes = [
                _photo_size(store, image, box) for box in PHOTO_BOXES if max(width, height) > box
            ]
            if image.format == "JPEG" and max(width, height) <= PHOTO_MAX_SIDE:
                original = store.add(data, kind="photo", extension="jpg", mime_type="image/jpeg")
                sizes.append({**original.ids(), "width": width, "height": height})
            else:
                sizes.append(_photo_size(store, image, PHOTO_MAX_SIDE))
    except _IMAGE_ERRORS as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc
    for size in sizes:
        stored = store.get(size["file_id"])
        if stored is not None:
            stored.media = sizes
    return sizes


def _photo_size(store: FileStore, image: Image.Image, box: int) -> JSON:
    rgb = image.convert("RGB")
    rgb.thumbnail((box, box))
    stored = store.add(
        _encode(rgb, "JPEG", quality=87), kind="photo", extension="jpg", mime_type="image/jpeg"
    )
    return {**stored.ids(), "width": rgb.width, "height": rgb.height}


def make_sticker(
    store: FileStore, data: bytes, *, emoji: str | None = None, set_name: str | None = None
) -> JSON:
    """Store a sticker: WEBP/PNG static (PNG converted to WEBP), ``.tgs`` or ``.webm``.

    Static stickers get their real width/height; animated and video ones are reported as
    512x512 (the emulator does not decode Lottie or WEBM).
    """
    sticker: JSON
    if data[:2] == b"\x1f\x8b":
        stored = store.add(
            data, kind="sticker", extension="tgs", mime_type="application/x-tgsticker"
        )
        sticker = {
            **stored.ids(),
            "width": 512,
            "height": 512,
            "is_animated": True,
            "is_video": False,
        }
    elif data[:4] == b"\x1a\x45\xdf\xa3":
        stored = store.add(data, kind="sticker", extension="webm", mime_type="video/webm")
        sticker = {
            **stored.ids(),
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": True,
        }
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                if image.format not in ("WEBP", "PNG"):
                    raise bad_request("IMAGE_PROCESS_FAILED")
                if image.format == "WEBP":
                    webp = data
                else:
                    rgba = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
                    webp = _encode(rgba, "WEBP", lossless=True)
                stored = store.add(webp, kind="sticker", extension="webp", mime_type="image/webp")
                sticker = {
                    **stored.ids(),
                    "width": image.width,
                    "height": image.height,
                    "is_animated": False,
                    "is_video": False,
                    "thumbnail": _thumbnail(store, image, 128, "WEBP"),
                }
        except _IMAGE_ERRORS as exc:
            raise bad_request("IMAGE_PROCESS_FAILED") from exc
    sticker["type"] = "regular"
    if emoji:
        sticker["emoji"] = emoji
    if set_name:
        sticker["set_name"] = set_name
    stored.media = sticker
    return sticker


def make_video(
    store: FileStore,
    data: bytes,
    *,
    width: int,
    height: int,
    duration: int,
    file_name: str | None = None,
    mime_type: str = "video/mp4",
    file_size: int | None = None,
) -> JSON:
    """Store a video; its dimensions and duration are taken as given (no decoding)."""
    stored = store.add(
        data,
        kind="video",
        extension=guess_extension(file_name, mime_type),
        mime_type=mime_type,
        file_size=file_size,
    )
    video: JSON = {
        **stored.ids(),
        "width": width,
        "height": height,
        "duration": duration,
        "mime_type": mime_type,
    }
    if file_name:
        video["file_name"] = file_name
    stored.media = video
    return video
