"""The token never reaches the log output, however it is logged."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from bot.logs import REDACTED, setup_logging
from tests.bot.botkit import USER, WAIT_S, photo, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator

TOKEN = "123456:SECRET-token_value"


@pytest.fixture
def output(log_output: io.StringIO) -> io.StringIO:
    setup_logging("DEBUG", secrets=[TOKEN], stream=log_output)
    return log_output


def test_token_in_message_args_is_redacted(output: io.StringIO) -> None:
    logging.getLogger("telegram.ext.test").info("calling %s", f"/bot{TOKEN}/getMe")
    text = output.getvalue()
    assert TOKEN not in text
    assert f"/bot{REDACTED}/getMe" in text


def test_url_encoded_token_and_tracebacks_are_redacted(output: io.StringIO) -> None:
    logger = logging.getLogger("bot.test")
    logger.warning("encoded: %s", quote(TOKEN))
    try:
        raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getUpdates failed")
    except RuntimeError:
        logger.exception("request failed")
    text = output.getvalue()
    assert TOKEN not in text
    assert quote(TOKEN) not in text
    assert "RuntimeError" in text
    assert text.count(REDACTED) == 2


def test_httpx_request_lines_are_silenced(output: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST https://x/bot%s/getMe", TOKEN)
    logging.getLogger("httpx").warning("pool trouble for bot%s", TOKEN)
    text = output.getvalue()
    assert "HTTP Request" not in text
    assert "pool trouble" in text
    assert TOKEN not in text


async def test_a_whole_session_logs_no_token(
    output: io.StringIO, emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    # The fixture's redactor knows TOKEN; this session's token is the emulator's.
    setup_logging("DEBUG", secrets=[emulator.token], stream=output)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # even if someone turns it back up
    await start_bot()
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    emulator.fail("sendMessage", error_code=500, times=1)
    emulator.send_text(USER, "/help")
    await emulator.wait_for("sendMessage", lambda call: call.ok, WAIT_S)
    text = output.getvalue()
    assert "getUpdates" in text or "sendDocument" in text  # the session was logged
    assert REDACTED in text  # httpx did log URLs with the token: they were rewritten
    assert emulator.token not in text
    assert emulator.token.split(":")[1] not in text
