"""Decoding Bot API requests the way the real server does.

Telegram takes parameters from the query string and from the body, whichever of
``application/json``, ``application/x-www-form-urlencoded`` or ``multipart/form-data`` it is.
In the form encodings every value is a string; non-string parameters (numbers, booleans,
``reply_markup``, ``media``, ``allowed_updates`` ...) are JSON-serialised. python-telegram-bot
sends *every* request as a form (urlencoded without files, multipart with them) and never as
JSON, so this decoding is the path the real client exercises.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from multidict import MultiMapping

from tests.bot.emulator.records import JSON, ApiError, UploadedFile, bad_request

logger = logging.getLogger(__name__)

#: Largest request body accepted (Telegram's upload limit for bots is 50 MB).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

#: Parameters whose type is String in the Bot API: never JSON-decoded, even if they look
#: like a number (``text="123"`` stays a string).
STRING_PARAMS = frozenset(
    {
        "action",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "custom_emoji_id",
        "description",
        "document",
        "emoji",
        "file_id",
        "file_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "photo",
        "query",
        "secret_token",
        "short_description",
        "sticker",
        "sticker_format",
        "sticker_type",
        "text",
        "thumbnail",
        "title",
        "url",
        "video",
        "voice",
    }
)


def decode_value(name: str, raw: str) -> Any:
    """Decode one form value: JSON for non-string parameters when it parses, else the string."""
    if name in STRING_PARAMS:
        return raw
    stripped = raw.strip()
    if not stripped or stripped[0] not in '{["-0123456789tfn':
        return raw
    try:
        return json.loads(stripped)
    except ValueError:
        return raw


def _decode_mapping(values: MultiMapping[str] | dict[str, Any]) -> JSON:
    decoded: JSON = {}
    for key, value in values.items():
        decoded[key] = decode_value(key, value) if isinstance(value, str) else value
    return decoded


async def read_request(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Read every parameter and uploaded file of a Bot API request.

    Raises:
        ApiError: 400 for a body that cannot be parsed, 413 for one over 50 MB.
    """
    params = _decode_mapping(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise ApiError(413, "Request Entity Too Large")
    content_type = request.content_type
    if request.method not in ("POST", "PUT") or not request.can_read_body:
        return params, files
    if content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        # A JSON body may still carry JSON-serialised strings (reply_markup="{...}").
        params.update(_decode_mapping(body))
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update(_decode_mapping({k: v for k, v in form.items() if isinstance(v, str)}))
    elif content_type.startswith("multipart/"):
        try:
            fields, files = await _read_multipart(request)
        except (ValueError, AssertionError) as exc:  # aiohttp's complaints about the framing
            raise bad_request(f"can't parse multipart/form-data: {exc}") from exc
        params.update(fields)
    return params, files


async def _read_multipart(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    fields: JSON = {}
    files: dict[str, UploadedFile] = {}
    total = 0
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue  # nested multipart or nameless parts carry nothing Telegram reads
        data = await part.read(decode=True)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files[part.name] = UploadedFile(part.filename, content_type, bytes(data))
        else:
            fields[part.name] = decode_value(part.name, data.decode("utf-8", "replace"))
    return fields, files


@dataclass(frozen=True)
class FileInput:
    """What a file parameter referred to: an upload, an existing ``file_id``, or a URL."""

    upload: UploadedFile | None = None
    file_id: str | None = None
    url: str | None = None


class Params:
    """Typed, Telegram-flavoured access to one request's parameters."""

    def __init__(self, values: JSON, files: dict[str, UploadedFile]) -> None:
        self.values = values
        self.files = files

    def has(self, name: str) -> bool:
        """Whether the parameter was sent (and is not JSON ``null``)."""
        return self.values.get(name) is not None

    def opt_str(self, name: str) -> str | None:
        """A string parameter (numbers are accepted and converted), or ``None``."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise bad_request(f'field "{name}" must be of type String')

    def req_str(self, name: str, missing: str | None = None) -> str:
        """A required string parameter; ``missing`` is the reason when absent or empty."""
        value = self.opt_str(name)
        if not value:
            raise bad_request(missing or f"{name} is empty")
        return value

    def opt_int(self, name: str) -> int | None:
        """An integer parameter, or ``None``."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f"invalid {name} specified")

    def req_int(self, name: str, missing: str | None = None) -> int:
        """A required integer parameter."""
        value = self.opt_int(name)
        if value is None:
            raise bad_request(missing or f"{name} is empty")
        return value

    def opt_float(self, name: str) -> float | None:
        """A numeric parameter, or ``None``."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value))
        except ValueError as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def opt_bool(self, name: str) -> bool:
        """A boolean parameter (``true``/``1``); absent means ``False``."""
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def opt_obj(self, name: str, what: str | None = None) -> JSON | None:
        """A JSON-serialised object parameter, or ``None``."""
        message = f"can't parse {what or name} JSON object"
        value: JSON | None = self._json(name, dict, message, message)
        return value

    def opt_list(self, name: str) -> list[Any] | None:
        """A JSON-serialised array parameter, or ``None``."""
        value: list[Any] | None = self._json(
            name, list, f"can't parse {name} JSON array", f'field "{name}" must be an Array'
        )
        return value

    def _json(self, name: str, kind: type, unparsable: str, wrong_kind: str) -> Any:
        """A parameter sent as JSON text (or already decoded) of type ``kind``, or ``None``."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise bad_request(unparsable) from exc
        if not isinstance(value, kind):
            raise bad_request(wrong_kind)
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        """The target chat: an integer id or an ``@username``."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            return text

    def file_ref(self, value: Any) -> FileInput | None:
        """Resolve a file value: ``attach://name`` to the named part, else a file_id or URL."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise bad_request("wrong file identifier/HTTP URL specified")
        if value.startswith("attach://"):
            upload = self.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f'can\'t find attached file "{value}"')
            return FileInput(upload=upload)
        if value.startswith(("http://", "https://")):
            return FileInput(url=value)
        return FileInput(file_id=value)

    def input_file(self, name: str) -> FileInput | None:
        """A file parameter: a part uploaded under ``name`` itself, or a string reference."""
        upload = self.files.get(name)
        if upload is not None and not self.has(name):
            return FileInput(upload=upload)
        return self.file_ref(self.values.get(name))
