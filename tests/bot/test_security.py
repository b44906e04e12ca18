"""Security, end to end: who may use admin commands, how the webhook secret is checked, that the
token never leaks, that nothing is left on disk, and that no user input makes the bot fetch a
URL or read a local file.

Outbound connections and opened files are observed with a process-wide audit hook
(``sys.addaudithook``: the ``socket.connect``, ``socket.getaddrinfo`` and ``open`` events), so
every library the bot uses is covered, not only the code paths we thought of.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np
import pytest
from PIL import Image

from bot.app import JOURNAL_FILE
from bot.logs import REDACTED, setup_logging
from bot.retry import RetryPolicy
from bot.web import SECRET_HEADER
from tests.bot.botkit import (
    ADMIN,
    OTHER_USER,
    USER,
    WAIT_S,
    photo,
    reply,
    sent,
    texted,
    texts_to,
    to,
)
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator
from tests.bot.test_web import free_port
from tests.standins import ColourSegmenter

SECRET = "webhook_Secret-0123456789"
FAST = RetryPolicy(tries=2, base_delay_s=0.01, max_delay_s=0.01)


# --- observing the process ----------------------------------------------------------------------


class Audit:
    """What the process did while recording: connections, name lookups, opened files."""

    def __init__(self) -> None:
        self.recording = False
        self.connects: list[Any] = []
        self.lookups: list[Any] = []
        self.opened: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.recording:
            return
        if event == "socket.connect":
            self.connects.append(args[1])
        elif event == "socket.getaddrinfo":
            self.lookups.append(args[0])
        elif event == "open" and isinstance(args[0], str | bytes | Path):
            self.opened.append(str(args[0]))


_AUDIT = Audit()
_HOOKED = False


@pytest.fixture
def audit() -> Iterator[Audit]:
    """Records while the test runs (an audit hook cannot be removed: it is installed once and
    stays idle in between)."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_AUDIT)
        _HOOKED = True
    _AUDIT.__init__()  # type: ignore[misc]
    _AUDIT.recording = True
    try:
        yield _AUDIT
    finally:
        _AUDIT.recording = False


def start_logging(stream: io.StringIO, *secrets: str) -> None:
    setup_logging("DEBUG", secrets=list(secrets), stream=stream)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def everything_sent(emu: BotApiEmulator) -> str:
    """Every parameter and file name of every request the bot made, as one text -- but
    setWebhook's, which must carry the webhook secret (and the URL the operator chose)."""
    return "\n".join(
        json.dumps(call.params, ensure_ascii=False, default=str)
        + "".join(f" {name}={upload.filename}" for name, upload in call.files.items())
        for call in emu.calls
        if call.method != "setWebhook"
    )


def uploads(emu: BotApiEmulator) -> list[bytes]:
    return [bytes(upload.data) for call in emu.calls for upload in call.files.values()]


def png(rgb_colour: tuple[int, int, int], size: tuple[int, int] = (120, 90)) -> bytes:
    rgb = np.full((size[1], size[0], 3), 128, np.uint8)
    rgb[20:70, 30:90] = rgb_colour
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


# --- admin commands -------------------------------------------------------------------------------


async def test_stats_is_refused_to_everyone_without_admin_ids(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot(ADMIN_IDS="")
    for user in (ADMIN, USER):
        emulator.send_text(user, "/stats")
        await reply(emulator, user, "Sorry, /stats is for the bot's admins only.")
    assert not [c for c in emulator.calls_to("sendMessage") if "Uptime" in c.params["text"]]


async def test_stats_in_a_group_goes_by_the_sender_not_the_chat(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot(ADMIN_IDS=f"{ADMIN},{OTHER_USER}")
    group = -100
    emulator.send_text(USER, "/stats@sticker_test_bot", chat_id=group)
    await reply(emulator, group, "admins only")
    mark = len(emulator.calls)
    emulator.send_text(OTHER_USER, "/stats@sticker_test_bot", chat_id=group)
    await reply(emulator, group, "Uptime", since=mark)
    # The refusal tells nothing about the bot (no counts, no model, no queue).
    refusal = sent(emulator, "sendMessage", group)[0].params["text"]
    assert refusal == "Sorry, /stats is for the bot's admins only."


# --- the webhook secret ---------------------------------------------------------------------------


async def raw_post(port: int, path: str, secret_header: bytes | None, body: bytes) -> int:
    """POST with header bytes no HTTP client would send (not UTF-8); the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head = [line.encode() for line in [*lines, "Connection: close"]]
    if secret_header is not None:
        head.append(SECRET_HEADER.encode() + b": " + secret_header)
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def test_the_webhook_secret_is_compared_in_constant_time(
    emulator: BotApiEmulator, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return constant_time(given, expected)

    monkeypatch.setattr("bot.web.hmac.compare_digest", spy)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    await start_bot(WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET, LISTEN_PORT=port)
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/help",
              "chat": {"id": USER, "type": "private"},
              "from": {"id": USER, "is_bot": False, "first_name": "Eve"}}}  # fmt: skip
    wrong = [None, b"", b"wrong", SECRET[:-1].encode(), (SECRET + "x").encode(), b"\xff\xfe"]
    for header in wrong:
        assert await raw_post(port, "/hook", header, json.dumps(update).encode()) == 403
    # The check comes before the body is read: an unauthenticated 2 MB body is refused as
    # such, not parsed.
    big = io.BytesIO(b"x" * (2 * 1024 * 1024))
    async with aiohttp.ClientSession() as http, http.post(url, data=big) as response:
        assert response.status == 403
    assert len(compared) == len(wrong) + 1
    assert all(expected == SECRET.encode() for _, expected in compared)
    assert not emulator.calls_to("sendMessage")

    # Telegram's own deliveries carry the secret: compared the same way, and handled.
    emulator.send_text(USER, "/help")
    await reply(emulator, USER, "Send me a photo")
    assert (SECRET.encode(), SECRET.encode()) in compared


# --- the token never leaks ------------------------------------------------------------------------


class LeakySegmenter(ColourSegmenter):
    """Raises with a secret in the message on photos without red (the worst case: an
    exception text carrying the token into a traceback)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[0] > 8 and not (rgb[..., 0] > 180).any():
            raise RuntimeError(f"model failed while calling /bot{self.secret}/getFile")
        return super().predict(rgb)


async def test_the_token_never_appears_in_logs_replies_stats_or_metrics(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    log_output: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = emulator.token
    start_logging(log_output, token, SECRET)
    port = free_port()
    bot = await start_bot(
        segmenter=LeakySegmenter(token),
        retry=FAST,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/{quote(token)}",  # a common choice
        WEBHOOK_SECRET=SECRET,
        LISTEN_PORT=port,
        LOG_LEVEL="DEBUG",
    )
    base = f"http://127.0.0.1:{port}"
    emulator.send_text(USER, "/start")
    await reply(emulator, USER, "Send me a photo")
    emulator.send_photo(USER, photo())
    await emulator.wait_for("editMessageText", texted(USER, "Done"), WAIT_S)
    # Errors of every kind, each logged (some with a traceback):
    emulator.send_photo(USER, photo(cat=False, dog=True))  # the model raises (token inside)
    await reply(emulator, USER, "Something went wrong with this photo")
    emulator.send_document(USER, b"GIF87a broken", file_name="x.png", mime_type="image/png")
    await reply(emulator, USER, "couldn't read that image")
    emulator.fail("getFile", times=FAST.tries)
    emulator.send_photo(OTHER_USER, photo())
    await reply(emulator, OTHER_USER, "couldn't get this photo")
    emulator.fail("sendDocument", times=FAST.tries, drop_connection=True)
    emulator.send_photo(OTHER_USER, photo())
    await reply(emulator, OTHER_USER, "Something went wrong with this photo")
    emulator.fail("sendMessage", drop_connection=True)  # the /settings reply: a handler error
    emulator.send_text(OTHER_USER, "/settings")
    await emulator.wait_for("sendMessage", lambda call: call.status == 0, WAIT_S)
    await reply(emulator, OTHER_USER, "Something went wrong")  # from the error handler
    await bot.worker.wait_idle()
    emulator.send_text(ADMIN, "/stats")
    stats = (await reply(emulator, ADMIN, "Uptime")).params["text"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
        async with http.get(f"{base}/healthz") as response:
            health = await response.text()
        async with http.post(f"{base}/telegram/{quote(token)}", data=b"{}") as response:
            assert response.status == 403
    await bot.stop()

    logs = log_output.getvalue()
    printed = capfd.readouterr()
    surfaces = {
        "logs": logs,
        "stdout": printed.out,
        "stderr": printed.err,
        "requests to Telegram": everything_sent(emulator),
        "what users see": "\n".join(
            text for user in (USER, OTHER_USER, ADMIN) for text in texts_to(emulator, user)
        ),
        "/stats": stats,
        "/metrics": metrics,
        "/healthz": health,
    }
    secret_part = token.split(":", 1)[1]
    for where, text in surfaces.items():
        for secret in (token, quote(token), secret_part, SECRET):
            assert secret not in text, f"a secret leaked into {where}"
    assert not any(secret_part.encode() in data for data in uploads(emulator))
    # The session was logged in full: request URLs (redacted), tracebacks, the webhook.
    assert REDACTED in logs
    assert "Traceback" in logs
    assert "model failed while calling /bot<redacted>/getFile" in logs
    assert "webhook call without the right secret" in logs


# --- nothing left on disk ---------------------------------------------------------------------


async def test_no_temporary_files_and_only_the_journal_in_data_dir(
    emulator: BotApiEmulator,
    start_bot: StartBot,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch, workdir = tmp_path / "tmp", tmp_path / "cwd"
    scratch.mkdir()
    workdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the model's child process inherits it
    monkeypatch.setattr(tempfile, "tempdir", None)  # recomputed from TMPDIR
    assert tempfile.gettempdir() == str(scratch)
    monkeypatch.chdir(workdir)
    # The production set-up: the model in a child process (a picklable factory).
    bot = await start_bot(factory=ColourSegmenter, ISOLATE_MODEL=True, retry=FAST)
    emulator.send_photo(USER, photo())
    emulator.send_document(USER, png((220, 30, 30)), file_name="a.png", mime_type="image/png")
    emulator.send_document(USER, b"\x89PNG broken", file_name="b.png", mime_type="image/png")
    for job in (1, 2):
        await emulator.wait_for("editMessageText", texted(USER, f"Done ✓ #{job}"), WAIT_S)
    await reply(emulator, USER, "couldn't read that image")
    emulator.fail("download", times=FAST.tries)
    emulator.send_photo(OTHER_USER, photo())
    await reply(emulator, OTHER_USER, "couldn't get this photo")
    await bot.worker.wait_idle()
    await bot.stop()

    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))  # noqa: ASYNC240
    assert left == ["cwd", "data", f"data/{JOURNAL_FILE}", "tmp"]


# --- no fetching of URLs, no reading of local files ----------------------------------------------

HOSTILE_TEXTS = (
    "https://example.com/cat.jpg",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "file:///etc/passwd",
    "/etc/passwd",
    "/class file:///etc/passwd",
    "/class ../../../../etc/passwd",
    "/crf /etc/passwd",
    "/start https://example.com/x.png",
)


def update_file_ids(update: dict[str, Any]) -> set[str]:
    message = update["message"]
    return {size["file_id"] for size in message.get("photo", [])} | (
        {message["document"]["file_id"]} if "document" in message else set()
    )


async def test_user_input_never_makes_the_bot_fetch_a_url_or_read_a_file(
    emulator: BotApiEmulator, start_bot: StartBot, audit: Audit
) -> None:
    await start_bot()
    emulator_address = ("127.0.0.1", int(emulator.url.rsplit(":", 1)[1]))
    for text in HOSTILE_TEXTS:
        emulator.send_text(USER, text)
    updates = [
        emulator.send_photo(USER, photo(), caption="/etc/passwd"),
        emulator.send_photo(OTHER_USER, photo(), caption="https://example.com/cat.jpg"),
        emulator.send_document(
            OTHER_USER, png((220, 30, 30)), file_name="../../../etc/passwd", mime_type="image/png"
        ),
        emulator.send_document(
            ADMIN, png((220, 30, 30)), file_name="file:///etc/passwd", mime_type="image/png"
        ),
        emulator.send_document(
            ADMIN, b"root:x:0:0", file_name="../../etc/passwd", mime_type="text/plain"
        ),
    ]
    for job in (1, 2, 3, 4):
        await emulator.wait_for("editMessageText", texted_any(f"Done ✓ #{job}"), WAIT_S)
    await reply(emulator, ADMIN, "isn't an image I can use")
    await reply(emulator, USER, "/crf on or /crf off")

    # Every file the bot asked for came from an update, and every download from getFile.
    offered = set().union(*(update_file_ids(u) for u in updates))
    asked = {call.params["file_id"] for call in emulator.calls_to("getFile")}
    assert asked
    assert asked <= offered
    paths = {call.result["file_path"] for call in emulator.calls_to("getFile")}
    assert {call.params["file_path"] for call in emulator.calls_to("download")} == paths
    # Nothing else was contacted, looked up or opened.
    assert set(audit.connects) == {emulator_address}
    assert {host for host in audit.lookups} <= {"127.0.0.1"}
    assert not [path for path in audit.opened if "passwd" in path or "meta-data" in path]
    # No upload carries a name the user chose, or anything but the bot's own stickers.
    names = {up.filename or "" for call in emulator.calls for up in call.files.values()}
    assert not [name for name in names for bad in ("passwd", "..", "/", ":") if bad in name]
    assert not any(b"root:" in data for data in uploads(emulator))


def texted_any(fragment: str) -> Any:
    return lambda call: call.ok and fragment in str(call.params.get("text", ""))


async def test_a_file_path_naming_a_local_file_is_never_read(
    emulator: BotApiEmulator, start_bot: StartBot, audit: Audit, tmp_path: Path
) -> None:
    """Defence in depth: PTB reads ``file_path`` from the local disk when it names an existing
    file (for local Bot API servers). Even if getFile answered such a path, the bot must not
    read it as a user's photo."""
    local = tmp_path / "local.png"
    local.write_bytes(png((30, 200, 40)))  # the stand-in's "dog": a sticker would show it
    audit.opened.clear()
    await start_bot()
    update = emulator.send_photo(USER, photo())
    largest = update["message"]["photo"][-1]["file_id"]
    emulator._state.files.get(largest).file_path = str(local)  # type: ignore[union-attr]
    await emulator.wait_for("editMessageText", to(USER), WAIT_S)  # answered, either way
    assert emulator.calls_to("getFile")[0].result["file_path"] == str(local)
    assert not emulator.calls_to("sendDocument")
    assert "I couldn't get this photo from Telegram" in texts_to(emulator, USER)[1]
    assert str(local) not in audit.opened
