"""The bot's settings: environment variables (or a ``.env`` file), validated at start-up.

Every field is documented here and in ``.env.example``. :func:`load_settings` turns any
validation failure into :class:`ConfigError`, whose message is ONE line naming each bad
setting -- and never echoing a secret's value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from segmentation.options import DEFAULT_TTA, DEFAULT_ZOOM

# Telegram's Bot API lets bots download files of at most 20 MB through getFile.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024

# "123456789:AAH...": the bot id, a colon, then the secret part (letters, digits, - and _).
_TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret_token.
_WEBHOOK_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigError(Exception):
    """A missing or malformed setting; ``str(error)`` is one line fit for the operator."""


class Settings(BaseSettings):
    """Everything an operator can set; each field is an environment variable of that name."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        # An empty "NAME=" line means "not set": the default applies.
        env_ignore_empty=True,
        # A .env shared with docker-compose may hold other variables (TF_CPP_MIN_LOG_LEVEL...).
        extra="ignore",
        frozen=True,
    )

    BOT_TOKEN: SecretStr = Field(description="The bot's token from @BotFather (secret).")
    ADMIN_IDS: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated Telegram user ids allowed to use /stats.",
    )
    MODEL: str = Field(
        default="auto",
        description="'auto' (the most accurate installed model, else DeepLabV3 MobileNetV2, "
        "downloaded at start-up), a name from `stickerbot models`, or a model file path "
        "(.tflite, .pb frozen graph, FCN-8s .weights.h5, or a `stickerbot train` .model.json "
        "whose classes the bot then offers).",
    )
    STICKERBOT_MODEL_MIRROR: str | None = Field(
        default=None,
        description="Base URL or folder that holds the model files; when set, models are "
        "fetched only from it (servers without internet). Unset = the models' own URLs.",
    )
    WEIGHTS: Path | None = Field(
        default=None, description="FCN-8s weights file; unset = the default cache location."
    )
    MODEL_THREADS: int | None = Field(
        default=None, ge=1, description="CPU threads for the model; unset = the backend's choice."
    )
    MODEL_PRECISION: str = Field(
        default="fp32",
        description="Precision: fp32 (the most accurate); auto (bf16 where the CPU computes it "
        "natively, else fp32; never int8) or bf16 with the openvino backend; int8 with "
        "MODEL_BACKEND=openvino: quantised by NNCF on MODEL_CALIBRATION_DIR's photos at the "
        "first start, layers that move the argmax kept in float, then cached; or an FCN-8s "
        "TFLite export made by `stickerbot export` (float16, int8-dynamic, int8).",
    )
    MODEL_CALIBRATION_DIR: Path | None = Field(
        default=None,
        description="Folder of photos like the ones the bot will get, to quantise on with "
        "MODEL_PRECISION=int8 and MODEL_BACKEND=openvino (a new folder's photos quantise "
        "again at the next start, then are cached); unset = scikit-image's photos.",
    )
    MODEL_BACKEND: str = Field(
        default="auto",
        description="Engine that runs the model: auto (the fastest installed, as `python -m "
        "bench` measured), tensorflow, openvino or tflite (LiteRT); /stats says which runs.",
    )
    MODEL_TTA: str = Field(
        default=DEFAULT_TTA,
        description="Test-time augmentation: the model also sees each photo at these scales "
        "and mirrored, probabilities averaged (more accurate edges, more model time): 'off', "
        "or scales and 'flip' separated by commas, e.g. '1,1.5,flip'.",
    )
    MODEL_ZOOM: str = Field(
        default=DEFAULT_ZOOM,
        description="Object zoom: the model looks again at the object's window of the full "
        "photo and its answer counts along the object's edge (closer edges, more model "
        "time): off, view (one more pass) or tiles (up to two more).",
    )
    ISOLATE_MODEL: bool = Field(
        default=True,
        description="Run the model in a child process (keeps the bot responsive and survives "
        "a crashing model); false = a thread of the bot process.",
    )
    DATA_DIR: Path = Field(
        default=Path("data"), description="Folder for the SQLite journal and per-chat settings."
    )
    QUEUE_MAX: int = Field(
        default=100,
        ge=1,
        description="Most photos accepted but not yet answered; beyond it users hear 'busy'.",
    )
    MAX_PENDING_PER_USER: int = Field(
        default=3, ge=1, description="Most unanswered photos one user may have waiting."
    )
    MAX_IMAGE_BYTES: int = Field(
        default=TELEGRAM_DOWNLOAD_LIMIT,
        ge=1,
        le=TELEGRAM_DOWNLOAD_LIMIT,
        description="Largest image file accepted, in bytes (Telegram's own limit is 20 MB).",
    )
    MAX_ATTEMPTS: int = Field(
        default=3,
        ge=1,
        description="Times a job is taken up (restarts included) before the user is told "
        "it failed.",
    )
    SHUTDOWN_GRACE_SECONDS: float = Field(
        # Docker sends SIGKILL 10 s after SIGTERM by default: finish well before that.
        default=8.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long the running job may take to finish.",
    )
    TELEGRAM_API_URL: str = Field(
        default="https://api.telegram.org",
        description="Bot API server; the bot calls {URL}/bot<token>/... and {URL}/file/bot...",
    )
    WEBHOOK_URL: str | None = Field(
        default=None,
        description="Public https URL Telegram posts updates to; unset = long polling.",
    )
    WEBHOOK_SECRET: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode).",
    )
    LISTEN_HOST: str = Field(
        default="127.0.0.1", description="Address of the webhook/health/metrics server."
    )
    LISTEN_PORT: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of that server: 8080 in webhook mode when unset; in polling mode "
        "the server runs only when set.",
    )
    LOG_LEVEL: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")

    # --- scaling out (bot.queue) ---
    QUEUE_URL: str | None = Field(
        default=None,
        description="Unset: the embedded queue (the SQLite journal). redis://... or "
        "unix://...: Redis Streams, computed by `stickerbot worker` processes.",
    )
    LEASE_SECONDS: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a worker holds a job without renewing its lease; then the job "
        "goes to another worker (the attempt counts).",
    )
    QUEUE_IN_FLIGHT: int = Field(
        default=64,
        ge=1,
        description="Redis only: most jobs in Redis at once; the backlog waits in the journal.",
    )

    @field_validator("BOT_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_PATTERN.fullmatch(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token (expected '123456:ABC-def...')")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("ADMIN_IDS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError(f"expected comma-separated numeric user ids, got {value!r}")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("MODEL")
    @classmethod
    def _model_kind(cls, value: str) -> str:
        from segmentation.models.registry import REGISTRY, lookup
        from segmentation.models.resolve import AUTO, MODEL_SUFFIXES

        value = value.strip()
        if value != AUTO and lookup(value) is None and not value.endswith(MODEL_SUFFIXES):
            names = ", ".join(entry.name for entry in REGISTRY)
            raise ValueError(
                f"expected {AUTO!r}, a registry model ({names}) or a path to a "
                f"{'/'.join(MODEL_SUFFIXES)} file, got {value!r}"
            )
        return value

    @field_validator("MODEL_PRECISION", "MODEL_BACKEND")
    @classmethod
    def _model_choice(cls, value: str, info: ValidationInfo) -> str:
        from segmentation.segmenter import BACKENDS, PRECISIONS

        choices = PRECISIONS if info.field_name == "MODEL_PRECISION" else BACKENDS
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    @field_validator("MODEL_CALIBRATION_DIR")
    @classmethod
    def _calibration_dir(cls, value: Path | None) -> Path | None:
        from segmentation.calibration import calibration_files
        from segmentation.errors import ModelUnavailable

        if value is None:
            return None
        if not value.is_dir():
            raise ValueError(f"not a folder: {str(value)!r}")
        try:
            calibration_files([value])
        except ModelUnavailable as exc:  # no photo in it, or unreadable
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _calibration_needs_int8(self) -> Settings:
        from segmentation.export import INT8
        from segmentation.segmenter import OPENVINO

        if self.MODEL_CALIBRATION_DIR is None:
            return self
        if (self.MODEL_PRECISION, self.MODEL_BACKEND) != (INT8, OPENVINO):
            raise ValueError(
                "MODEL_CALIBRATION_DIR: applies to MODEL_PRECISION=int8 with "
                f"MODEL_BACKEND=openvino; got {self.MODEL_PRECISION!r}, {self.MODEL_BACKEND!r}"
            )
        return self

    @field_validator("MODEL_TTA")
    @classmethod
    def _tta(cls, value: str) -> str:
        from segmentation.options import describe_tta, parse_tta

        return describe_tta(parse_tta(value))  # ValueError names the bad item

    @field_validator("MODEL_ZOOM")
    @classmethod
    def _zoom(cls, value: str) -> str:
        from segmentation.options import parse_zoom

        parse_zoom(value)  # ValueError names the value and the choices
        return value.strip().lower()

    @field_validator("TELEGRAM_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("WEBHOOK_URL")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None

    @field_validator("QUEUE_URL")
    @classmethod
    def _queue_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _webhook_pair(self) -> Settings:
        if self.WEBHOOK_URL is None:
            return self
        if self.WEBHOOK_SECRET is None:
            raise ValueError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
        if not _WEBHOOK_SECRET_PATTERN.fullmatch(self.WEBHOOK_SECRET.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET: use 1-256 characters A-Z, a-z, 0-9, _ or -")
        return self

    @property
    def webhook_path(self) -> str:
        """The path the webhook server listens on: the path part of ``WEBHOOK_URL``, decoded
        (aiohttp routes by the decoded path: ``/hook/123%3AABC`` arrives as ``/hook/123:ABC``)."""
        if self.WEBHOOK_URL is None:
            raise ValueError("not in webhook mode")
        return unquote(urlsplit(self.WEBHOOK_URL).path) or "/"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def load_settings(env_file: Path | None = Path(".env"), **overrides: Any) -> Settings:
    """Read the settings from the environment (and ``env_file``); raise :class:`ConfigError`."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(error: ValidationError) -> str:
    """One line naming every bad setting, without echoing any value of a secret."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "missing (set it in the environment or in .env)"
        problems.append(f"{name}: {message}" if name else message)
    return "invalid settings: " + "; ".join(problems)
