"""The HTTP side: an aiohttp server on 127.0.0.1 that speaks the Bot API, records every call,
injects faults and delivers webhooks."""

from __future__ import annotations

import asyncio
import copy
import functools
import io
import json
import logging
import re
import socket
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web
from PIL import Image

# Importing the method modules registers their methods in METHODS.
from tests.bot.emulator import media_methods, messages, service  # noqa: F401
from tests.bot.emulator.media import make_sticker
from tests.bot.emulator.media_methods import STICKER_SIDE
from tests.bot.emulator.params import Params, read_request
from tests.bot.emulator.records import (
    JSON,
    ApiCall,
    ApiError,
    Fault,
    Signal,
    UploadedFile,
    WebhookDelivery,
)
from tests.bot.emulator.registry import METHODS, Described
from tests.bot.emulator.state import EmulatorState, now
from tests.bot.emulator.users import UserActions

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:AAEmulatorTestTokenForStickerBot0000"
DOWNLOAD = "download"
_dumps = functools.partial(json.dumps, ensure_ascii=False)


def canonical_method(method: str) -> str:
    """``sendmessage`` -> ``sendMessage``; ``download`` and unknown names are kept as given."""
    spec = METHODS.get(method.lower())
    return spec.name if spec is not None else method


class BotApiEmulator(UserActions):
    """A local Telegram Bot API server for end-to-end tests of a real PTB bot.

    Point python-telegram-bot at it with ``base_url=f"{emu.url}/bot"`` and
    ``base_file_url=f"{emu.url}/file/bot"``. Simulated users (``send_text``,
    ``press_button`` ...) create updates; the bot's calls are recorded in :attr:`calls`;
    :meth:`messages_to` shows what a user sees. Webhook updates are delivered
    automatically in the background (await :meth:`deliver_pending_webhooks` to wait).

    Use as ``async with BotApiEmulator() as emu:`` (or the ``emulator`` fixture).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "sticker_test_bot",
        bot_first_name: str = "Sticker Test Bot",
        webhook_retry_delay: float = 0.05,
    ) -> None:
        self.token = token
        self._state = EmulatorState(token, bot_username, bot_first_name)
        self.calls: list[ApiCall] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_retry_delay = webhook_retry_delay
        self._faults: dict[str, deque[Fault]] = {}
        self._calls_signal = Signal()
        self._delivery_signal = Signal()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def bot_user(self) -> JSON:
        """The bot's User object (as getMe returns it)."""
        return copy.deepcopy(self._state.bot_user)

    async def start(self) -> None:
        """Listen on a free 127.0.0.1 port and start webhook delivery."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        logger.info("Bot API emulator listening on %s", self.url)

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery and close the server."""
        self._state.closing = True
        self._state.update_signal.fire()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        logger.info("Bot API emulator stopped after %d calls", len(self.calls))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- faults ------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        drop_connection: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"download"`` for file downloads) fail.

        Defaults: 500 ``Internal Server Error``; with ``retry_after`` a 429 ``Too Many
        Requests: retry after N`` carrying ``parameters.retry_after`` (PTB raises RetryAfter);
        with ``migrate_to_chat_id`` a 400 carrying it (PTB raises ChatMigrated). With
        ``drop_connection`` the server closes the socket without answering (PTB raises
        NetworkError). The request is still parsed and recorded (status 0 when dropped).
        """
        if method.lower() != DOWNLOAD and method.lower() not in METHODS:
            raise ValueError(f"{method!r} is not an emulated method (nor 'download')")
        parameters: JSON = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
            code = error_code or 429
            text = description or f"Too Many Requests: retry after {retry_after}"
        elif migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
            code = error_code or 400
            text = description or "Bad Request: group chat was upgraded to a supergroup chat"
        else:
            code = error_code or 500
            text = description or HTTPStatus(code).phrase
        fault = Fault(code, text, parameters or None, times, drop_connection)
        self._faults.setdefault(canonical_method(method).lower(), deque()).append(fault)

    def _take_fault(self, method: str) -> Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    # --- HTTP handlers -----------------------------------------------------------------

    def _record(
        self,
        request: web.Request,
        method: str,
        params: JSON,
        files: dict[str, UploadedFile],
        status: int,
        body: JSON | None,
    ) -> None:
        call = ApiCall(method, params, files, status, body, request.method)
        self.calls.append(call)
        self._calls_signal.fire()
        logger.debug("%s %s -> %s", method, params, status)

    def _check_token(self, token: str) -> None:
        """Like Telegram: 404 for a malformed token, 401 for a well-formed wrong one."""
        if token == self.token:
            return
        if not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", token):
            raise ApiError(404, "Not Found")
        raise ApiError(401, "Unauthorized")

    @staticmethod
    def _reply(status: int, body: JSON) -> web.Response:
        return web.json_response(body, status=status, dumps=_dumps)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        spec = METHODS.get(raw_method.lower())
        method = spec.name if spec is not None else raw_method
        values: JSON = {}
        files: dict[str, UploadedFile] = {}
        try:
            values, files = await read_request(request)
            self._check_token(request.match_info["token"])
            if spec is None:
                raise ApiError(404, "Not Found")
            fault = self._take_fault(method)
            if fault is not None and fault.drop_connection:
                self._record(request, method, values, files, 0, None)
                return self._drop(request)
            if fault is not None:
                raise ApiError(fault.error_code, fault.description, fault.parameters)
            result = spec.fn(self._state, Params(values, files))
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            body = error.payload()
            self._record(request, method, values, files, error.error_code, body)
            return self._reply(error.error_code, body)
        except Exception as exc:  # an emulator bug: answer like a server error, loudly
            logger.exception("emulator failed on %s", method)
            body = ApiError(500, f"Internal Server Error: emulator bug: {exc!r}").payload()
            self._record(request, method, values, files, 500, body)
            return self._reply(500, body)
        body = {"ok": True}
        if isinstance(result, Described):
            body.update(result=result.result, description=result.description)
        else:
            body["result"] = result
        self._record(request, method, values, files, 200, body)
        return self._reply(200, body)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        params: JSON = {"file_path": path}
        fault = self._take_fault(DOWNLOAD)
        error: ApiError | None = None
        if fault is not None and fault.drop_connection:
            self._record(request, DOWNLOAD, params, {}, 0, None)
            return self._drop(request)
        stored = self._state.files.by_path(path)
        if fault is not None:
            error = ApiError(fault.error_code, fault.description, fault.parameters)
        elif request.match_info["token"] != self.token:
            error = ApiError(401, "Unauthorized")
        elif stored is None:
            error = ApiError(404, "Not Found")
        if error is not None:
            self._record(request, DOWNLOAD, params, {}, error.error_code, error.payload())
            return self._reply(error.error_code, error.payload())
        assert stored is not None
        self._record(request, DOWNLOAD, params, {}, 200, None)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        return self._reply(404, ApiError(404, "Not Found").payload())

    # --- webhooks ----------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        state = self._state
        while not state.closing:
            hook = state.webhook
            if hook is None or not state.updates:
                await state.update_signal.wait(None)
                continue
            update = state.updates[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            status: int | None = None
            error: str | None = None
            assert self._session is not None
            try:
                async with self._session.post(
                    hook.url, data=_dumps(update), headers=headers
                ) as resp:
                    status = resp.status
                    await resp.read()
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc!r}"
            self.webhook_deliveries.append(WebhookDelivery(hook.url, update, status, error))
            if error is None:
                if update in state.updates:
                    state.updates.remove(update)
            else:
                logger.debug("webhook delivery failed: %s", error)
                hook.last_error_date, hook.last_error_message = now(), error
            self._delivery_signal.fire()
            if error is not None:
                await state.update_signal.wait(self.webhook_retry_delay)

    async def deliver_pending_webhooks(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every queued update has been accepted by the webhook (2xx).

        Delivery itself is automatic (one update at a time, in order, retried every
        ``webhook_retry_delay`` s until the receiver answers 2xx, like Telegram).
        """
        if self._state.webhook is None:
            raise RuntimeError("no webhook is set")
        async with asyncio.timeout(timeout):
            while self._state.updates:
                await self._delivery_signal.wait(None)

    # --- what tests read ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """Every recorded call of ``method`` (case-insensitive), oldest first."""
        name = canonical_method(method)
        return [call for call in self.calls if call.method == name]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the documented test API
        *,
        since: int = 0,
    ) -> ApiCall:
        """The first call of ``method`` (from index ``since`` of :attr:`calls` on) matching
        ``predicate``, waiting up to ``timeout`` s for it to be made.

        Raises:
            TimeoutError: with the calls seen so far, when none matched in time.
        """
        name = canonical_method(method)
        index = since
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while index < len(self.calls):
                        call = self.calls[index]
                        index += 1
                        if call.method == name and (predicate is None or predicate(call)):
                            return call
                    await self._calls_signal.wait(None)
        except TimeoutError:
            seen = [f"{c.method}:{c.status}" for c in self.calls[since:]]
            raise TimeoutError(f"no matching {name} call within {timeout}s; saw {seen}") from None

    async def wait_for_polling(self, count: int = 1, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``count`` getUpdates requests are blocked in long polling (the bot is
        idle and listening), e.g. before checking that a new update wakes the poll up."""
        async with asyncio.timeout(timeout):
            while self._state.polls_waiting < count:
                await self._state.poll_signal.wait(None)

    def messages_to(self, chat_id: int, *, include_deleted: bool = False) -> list[JSON]:
        """The bot's messages in a chat as the user sees them now (edits applied)."""
        stored = self._state.messages.get(chat_id, {})
        return [
            copy.deepcopy(message.data)
            for _, message in sorted(stored.items())
            if message.from_bot and (include_deleted or not message.deleted)
        ]

    def file_bytes(self, file_id: str) -> bytes:
        """The stored bytes of a file (uploaded by the bot or sent by a user)."""
        stored = self._state.files.get(file_id)
        if stored is None:
            raise KeyError(f"unknown file_id {file_id!r}")
        return stored.data

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed (getUpdates) or delivered (webhook)."""
        return copy.deepcopy(self._state.updates)

    @property
    def polls_waiting(self) -> int:
        """How many getUpdates requests are waiting in long polling right now."""
        return self._state.polls_waiting

    @property
    def webhook_url(self) -> str | None:
        """The webhook URL the bot set, if any."""
        return None if self._state.webhook is None else self._state.webhook.url

    def sticker_set(self, name: str) -> JSON | None:
        """A sticker set the bot created (``name``, ``title``, ``stickers`` ...), if any."""
        found = self._state.sticker_sets.get(name.lower())
        return copy.deepcopy(found) if found is not None else None

    def seed_sticker_set(self, name: str, owner: int, count: int, title: str = "Seeded") -> None:
        """Make a static set of ``count`` stickers as if the bot had filled it (no calls are
        recorded), e.g. a full pack of 120 without 120 requests."""
        image = io.BytesIO()
        # One side 512 px, the other tiny: a valid static sticker that is cheap to store.
        Image.new("RGBA", (STICKER_SIDE, 2), (255, 0, 0, 255)).save(image, format="WEBP")
        stickers = [
            make_sticker(self._state.files, image.getvalue(), emoji="⭐", set_name=name)
            for _ in range(count)
        ]
        self._state.sticker_sets[name.lower()] = {
            "name": name,
            "title": title,
            "sticker_type": "regular",
            "stickers": stickers,
            "owner": owner,
        }

    def owner_deletes_sticker_set(self, name: str) -> None:
        """The set's owner deletes it (with @Stickers): later calls get STICKERSET_INVALID."""
        del self._state.sticker_sets[name.lower()]
        self._state.deleted_sticker_sets.add(name.lower())

    def bot_commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        """The commands set with setMyCommands for a scope and language."""
        key = json.dumps([scope or {"type": "default"}, language_code], sort_keys=True)
        return copy.deepcopy(self._state.settings.commands.get(key, []))

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<BotApiEmulator {where} calls={len(self.calls)}>"
