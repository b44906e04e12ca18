"""The aiohttp server: Telegram's webhook, ``GET /healthz`` and ``GET /metrics``.

Telegram signs each webhook call with the secret given to setWebhook, in the
``X-Telegram-Bot-Api-Secret-Token`` header; anything without the right one gets 403. While
the bot shuts down the webhook answers 503, so Telegram keeps the update and retries later.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot import metrics

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Updates are small JSON documents (files travel by file_id): refuse anything bigger early.
MAX_UPDATE_BYTES = 1024 * 1024


@dataclass
class Webhook:
    path: str
    secret: str
    application: Application[Any, Any, Any, Any, Any, Any]
    accepting: bool = True


class WebServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        ready: Callable[[], bool],
        metrics_text: Callable[[], Awaitable[str]],
        webhook: Webhook | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._ready = ready
        self._metrics_text = metrics_text
        self.webhook = webhook
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if webhook is not None:
            app.router.add_post(webhook.path, self._update)
        self._runner = web.AppRunner(app, access_log=None)
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # With LISTEN_PORT=0 the system picks a free port: read back which.
        self.port = self._runner.addresses[0][1]
        logger.info("listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        ready = self._ready()
        return web.json_response(
            {"status": "ok" if ready else "starting"}, status=200 if ready else 503
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=(await self._metrics_text()).encode(),
            headers={"Content-Type": metrics.CONTENT_TYPE},
        )

    async def _update(self, request: web.Request) -> web.Response:
        webhook = self.webhook
        assert webhook is not None
        # aiohttp decodes header bytes that are not UTF-8 as surrogates: encode them back
        # the same way (a plain encode() would raise, answering 500 with a logged traceback).
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, webhook.secret.encode()):
            logger.warning("webhook call without the right secret from %s", request.remote)
            return web.Response(status=403)
        if not webhook.accepting:
            return web.Response(status=503)
        try:
            data = await request.json()
            update = Update.de_json(data, webhook.application.bot)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            logger.warning("webhook call with a malformed update")
            return web.Response(status=400)
        await webhook.application.update_queue.put(update)
        return web.Response()
