"""What crosses the wire to and from Redis: a job with its photo, a result with its files.

A stream entry is a flat map of byte strings. JSON carries the plain fields; the photo, the
PNG and the WEBP travel as raw bytes beside it (no base64). Anything that does not decode is
:class:`MalformedEntry`: logged and skipped by whoever reads it, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.jobs import Job, JobState
from bot.results import ErrorKind, JobResult

# Bumped when the entry layout changes; entries of another version are malformed.
WIRE_VERSION = b"1"
Fields = Mapping[bytes, bytes]


class MalformedEntry(ValueError):
    """A stream entry that is not a job (or a result) this version can read."""


def encode_job(job: Job, photo: bytes) -> dict[bytes, bytes]:
    meta = {
        "id": job.id,
        "chat_id": job.chat_id,
        "user_id": job.user_id,
        "message_id": job.message_id,
        "file_id": job.file_id,
        "target": job.target,
        "crf": job.crf,
        "attempts": job.attempts,
        "created_at": job.created_at,
    }
    return {b"v": WIRE_VERSION, b"job": json.dumps(meta).encode(), b"photo": photo}


def decode_job(fields: Fields | None) -> tuple[Job, bytes]:
    meta = _meta(fields, b"job")
    assert fields is not None
    photo = fields.get(b"photo")
    if not isinstance(photo, bytes):
        raise MalformedEntry("a job entry without its photo")
    try:
        job = Job(
            id=int(meta["id"]),
            chat_id=int(meta["chat_id"]),
            user_id=int(meta["user_id"]),
            message_id=int(meta["message_id"]),
            file_id=str(meta["file_id"]),
            target=str(meta["target"]),
            crf=bool(meta["crf"]),
            state=JobState.RUNNING,
            attempts=int(meta["attempts"]),
            status_message_id=None,
            created_at=float(meta["created_at"]),
        )
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
    fields = {b"v": WIRE_VERSION, b"result": json.dumps(meta).encode()}
    if result.png is not None:
        fields[b"png"] = result.png
    if result.webp is not None:
        fields[b"webp"] = result.webp
    return fields


def decode_result(fields: Fields | None) -> tuple[int, JobResult]:
    meta = _meta(fields, b"result")
    assert fields is not None
    try:
        error = None if meta["error"] is None else ErrorKind(meta["error"])
        result = JobResult(
            png=fields.get(b"png"),
            webp=fields.get(b"webp"),
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


def _meta(fields: Fields | None, key: bytes) -> dict[str, Any]:
    if not fields or fields.get(b"v") != WIRE_VERSION:
        raise MalformedEntry(f"an entry of another version (or none): {_keys(fields)}")
    try:
        meta = json.loads(fields[key])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise MalformedEntry(f"an entry without a readable {key.decode()!r}") from None
    if not isinstance(meta, dict):
        raise MalformedEntry(f"{key.decode()!r} is not an object")
    return meta


def _keys(fields: Fields | None) -> list[str]:
    return sorted(k.decode(errors="replace") for k in fields or {})
