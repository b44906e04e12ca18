"""What crosses the wire to and from Redis: a job with its photo, a result with its files.

A stream entry is a flat map of byte strings. JSON carries the plain fields; the photo, the
PNG and the WEBP travel as raw bytes beside it (no base64). Anything that does not decode is
:class:`MalformedEntry`: logged and skipped by whoever reads it, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from bot.jobs import Job, JobState
from bot.results import ErrorKind, JobResult

# Bumped when the entry layout changes; entries of another version are malformed.
WIRE_VERSION = b"1"
Fields = Mapping[bytes, bytes]


class MalformedEntry(ValueError):
    """A stream entry that is not a job (or a result) this version can read."""


# Job fields that stay in the bot (the worker neither needs nor returns them).
_BOT_ONLY = {"state", "status_message_id"}
# How each travelling field is checked on the way in; a field added to Job later travels as
# its JSON value (so a new per-job option reaches the worker without a change here).
_CHECKED: dict[str, Callable[[Any], Any]] = {
    "id": int,
    "chat_id": int,
    "user_id": int,
    "message_id": int,
    "file_id": str,
    "target": str,
    "crf": bool,
    "attempts": int,
    "created_at": float,
    "style": str,
}


def encode_job(job: Job, photo: bytes) -> dict[bytes, bytes]:
    meta = {f.name: getattr(job, f.name) for f in fields(Job) if f.name not in _BOT_ONLY}
    return {b"v": WIRE_VERSION, b"job": json.dumps(meta).encode(), b"photo": photo}


def decode_job(entry: Fields | None) -> tuple[Job, bytes]:
    meta = _meta(entry, b"job")
    assert entry is not None
    photo = entry.get(b"photo")
    if not isinstance(photo, bytes):
        raise MalformedEntry("a job entry without its photo")
    values: dict[str, Any] = {"state": JobState.RUNNING, "status_message_id": None}
    try:
        for f in fields(Job):
            if f.name not in _BOT_ONLY:
                value = meta[f.name]
                check = _CHECKED.get(f.name)
                values[f.name] = check(value) if check is not None else value
        job = Job(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEntry(f"a job entry with bad fields: {exc!r}") from None
    return job, photo


def encode_result(job_id: int, result: JobResult, *, worker: str) -> dict[bytes, bytes]:
    meta = {
        "job_id": job_id,
        "target": result.target,
        "crf": result.crf,
        "detected": result.detected,
        "timings_ms": result.timings_ms,
        "error": None if result.error is None else result.error.value,
        "detail": result.detail,
        "worker": worker,
    }
    entry = {b"v": WIRE_VERSION, b"result": json.dumps(meta).encode()}
    if result.png is not None:
        entry[b"png"] = result.png
    if result.webp is not None:
        entry[b"webp"] = result.webp
    return entry


def decode_result(entry: Fields | None) -> tuple[int, JobResult]:
    meta = _meta(entry, b"result")
    assert entry is not None
    try:
        error = None if meta["error"] is None else ErrorKind(meta["error"])
        result = JobResult(
            png=entry.get(b"png"),
            webp=entry.get(b"webp"),
            target=str(meta["target"]),
            crf=bool(meta["crf"]),
            detected={str(k): float(v) for k, v in dict(meta["detected"]).items()},
            timings_ms={str(k): float(v) for k, v in dict(meta["timings_ms"]).items()},
            error=error,
            detail=str(meta["detail"]),
        )
        job_id = int(meta["job_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEntry(f"a result entry with bad fields: {exc!r}") from None
    if result.ok and result.png is None:
        raise MalformedEntry(f"a sticker result of job {job_id} without its PNG")
    return job_id, result


def _meta(entry: Fields | None, key: bytes) -> dict[str, Any]:
    if not entry or entry.get(b"v") != WIRE_VERSION:
        raise MalformedEntry(f"an entry of another version (or none): {_keys(entry)}")
    try:
        meta = json.loads(entry[key])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise MalformedEntry(f"an entry without a readable {key.decode()!r}") from None
    if not isinstance(meta, dict):
        raise MalformedEntry(f"{key.decode()!r} is not an object")
    return meta


def _keys(entry: Fields | None) -> list[str]:
    return sorted(k.decode(errors="replace") for k in entry or {})
