"""The aiohttp side: webhook secret checking, /healthz and /metrics."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from bot.web import SECRET_HEADER, WebServer
from tests.bot.botkit import USER, WAIT_S, photo, reply, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator

SECRET = "s3cret_Webhook-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_checks_the_secret_and_handles_updates(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    bot = await start_bot(WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET, LISTEN_PORT=port)
    assert bot.application.updater is None
    registered = emulator.calls_to("setWebhook")[0].params
    assert registered["url"] == url
    assert registered["secret_token"] == SECRET

    update = {
        "update_id": 999,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Eve"},
            "text": "/start",
        },
    }
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        async with http.post(url, data=b"{not json", headers={SECRET_HEADER: SECRET}) as response:
            assert response.status == 400
    assert not emulator.calls_to("sendMessage")

    # Telegram (the emulator) delivers a user's message with the right secret.
    emulator.send_text(USER, "/help")
    await reply(emulator, USER, "Send me a photo")
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert not emulator.calls_to("getUpdates")


async def test_healthz_and_metrics_in_polling_mode(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot(LISTEN_PORT=0)
    assert bot.web is not None
    base = f"http://127.0.0.1:{bot.web.port}"
    emulator.send_photo(USER, photo())
    await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    await bot.worker.wait_idle()

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    assert "stickerbot_up 1" in text
    assert "stickerbot_queue_depth 0" in text
    assert 'stickerbot_jobs_total{outcome="sticker"} 1' in text
    assert 'stickerbot_stage_seconds_count{stage="model"} 1' in text
    assert 'stickerbot_stage_seconds_count{stage="end_to_end"} 1' in text


@pytest.mark.parametrize("ready", [True, False])
async def test_healthz_reflects_readiness(ready: bool) -> None:
    server = WebServer(host="127.0.0.1", port=0, ready=lambda: ready, metrics_text=no_metrics)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/healthz") as response,
        ):
            assert response.status == (200 if ready else 503)
    finally:
        await server.stop()


async def test_no_server_in_polling_mode_without_a_port(start_bot: StartBot) -> None:
    bot = await start_bot()
    assert bot.web is None


async def no_metrics() -> str:
    return ""
