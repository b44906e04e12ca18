"""Assembling the bot and running its lifecycle by hand inside one ``asyncio.run``.

Start-up, in order: journal, Bot API (getMe), model (loaded and warmed up), setMyCommands,
worker (taking up unfinished jobs), web server, then updates (setWebhook, or long polling).
Shutdown reverses it: stop taking updates, handle those already fetched, let the running
job finish within ``SHUTDOWN_GRACE_SECONDS``, leave the rest in the journal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from pathlib import Path

from telegram import BotCommand, Update
from telegram.ext import AIORateLimiter, Application

from bot import handlers, i18n, metrics, texts
from bot.config import Settings
from bot.deliverer import Deliverer
from bot.delivery import Delivery
from bot.engine import Engine, SegmenterFactory
from bot.fetch import PhotoFetcher
from bot.handlers import App
from bot.intake import Intake
from bot.journal import Journal
from bot.ordering import PerChatUpdateProcessor
from bot.queue.local import LocalQueue
from bot.retry import RetryPolicy, with_retries
from bot.runner import Runner
from bot.services import Services
from bot.stats import Stats
from bot.web import Webhook, WebServer
from bot.worker import BotQueue, Worker
from segmentation.options import parse_zoom
from segmentation.trained import model_classes

logger = logging.getLogger(__name__)

JOURNAL_FILE = "stickerbot.sqlite3"
# Rounds of waiting out a 429 "retry after" before a call fails (then bot.retry takes over).
RATE_LIMIT_RETRIES = 3
# The only updates the bot handles; everything else is not even sent to it.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Updates handled at once (across chats; one chat's run in order). Handlers wait on
# Telegram, not the CPU: enough to keep a burst of users moving, few enough to stay polite.
MAX_CONCURRENT_UPDATES = 32
# The port of the webhook server when LISTEN_PORT is unset in webhook mode.
DEFAULT_WEBHOOK_PORT = 8080
# PTB 22 is moving durations (RetryAfter.retry_after ...) from int to timedelta and warns on
# every access in the old mode -- even from its own RetryAfter constructor. Opt in to the
# new mode (what v23 will do anyway); bot.retry reads both forms.
PTB_TIMEDELTA = "PTB_TIMEDELTA"


def build_application(settings: Settings) -> App:
    """The PTB Application, pointed at ``TELEGRAM_API_URL``; no Updater in webhook mode."""
    os.environ.setdefault(PTB_TIMEDELTA, "true")
    api = settings.TELEGRAM_API_URL
    builder = (
        Application.builder()
        .token(settings.BOT_TOKEN.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
    )
    if settings.WEBHOOK_URL is not None:
        builder = builder.updater(None)
    return builder.build()


def default_segmenter_factory(settings: Settings) -> SegmenterFactory:
    """Open ``MODEL`` where the engine runs the model, during start-up (after the token is
    accepted, before the worker takes jobs): a registry model is downloaded and verified
    first (progress in the log), ``auto`` picks the best installed one."""
    from segmentation.models.progress import LineProgress
    from segmentation.models.resolve import open_model
    from segmentation.options import parse_tta

    return functools.partial(
        open_model,
        settings.MODEL,
        weights=settings.WEIGHTS,
        mirror=settings.STICKERBOT_MODEL_MIRROR,
        progress=LineProgress(),
        num_threads=settings.MODEL_THREADS,
        precision=settings.MODEL_PRECISION,
        backend=settings.MODEL_BACKEND,
        tta=parse_tta(settings.MODEL_TTA),
        calibration=(
            None if settings.MODEL_CALIBRATION_DIR is None else (settings.MODEL_CALIBRATION_DIR,)
        ),
    )


class StickerBot:
    """The whole bot: ``await start()``, then ``await stop()`` (also after a failed start)."""

    def __init__(
        self,
        settings: Settings,
        *,
        segmenter_factory: SegmenterFactory | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        retry = retry or RetryPolicy()
        self.application = build_application(settings)
        self.stats = Stats()
        # The model's classes come from its metadata: known without loading the model.
        classes = model_classes(settings.MODEL)
        self.journal = Journal(Path(settings.DATA_DIR) / JOURNAL_FILE)
        self.engine: Engine | None = None
        bot = self.application.bot
        delivery = Delivery(bot, self.journal, self.stats, retry, classes=classes)
        fetch = PhotoFetcher(bot, max_bytes=settings.MAX_IMAGE_BYTES, retry=retry)
        queue: BotQueue
        runner = None
        if settings.QUEUE_URL is not None:
            from bot.queue.redis_dispatch import RedisDispatch

            # Workers compute; this process only accepts, dispatches and delivers.
            queue = RedisDispatch(
                settings.QUEUE_URL,
                self.journal,
                fetch,
                in_flight=settings.QUEUE_IN_FLIGHT,
                lease_s=settings.LEASE_SECONDS,
                max_attempts=settings.MAX_ATTEMPTS,
            )
        else:
            self.engine = Engine(
                segmenter_factory or default_segmenter_factory(settings),
                isolate=settings.ISOLATE_MODEL,
            )
            queue = LocalQueue(self.journal)
            runner = Runner(
                queue,
                self.engine.run,
                name="bot",
                lease_s=settings.LEASE_SECONDS,
                max_attempts=settings.MAX_ATTEMPTS,
                max_bytes=settings.MAX_IMAGE_BYTES,
                fetch=fetch,
                stats=self.stats,
                working=delivery.chat_action,
                zoom=parse_zoom(settings.MODEL_ZOOM),
            )
        self.worker = Worker(
            self.journal, queue, Deliverer(queue, self.journal, delivery, self.stats), runner
        )
        intake = Intake(
            self.journal,
            self.worker,
            self.stats,
            queue_max=settings.QUEUE_MAX,
            user_max=settings.MAX_PENDING_PER_USER,
        )
        self.services = Services(
            settings, self.journal, self.engine, self.worker, intake, self.stats, classes
        )
        handlers.register(self.application, self.services)
        self.web = self._web_server()
        self._retry = retry
        self._started: list[str] = []

    @property
    def ready(self) -> bool:
        """The model is loaded and the worker takes jobs (what /healthz reports)."""
        model_ready = self.engine is None or self.engine.ready
        return model_ready and self.worker.running and "updates" in self._started

    async def metrics_text(self) -> str:
        counts = await self.worker.counts()
        return metrics.render(
            self.stats,
            queue_depth=counts.queued,
            in_progress=counts.running,
            ready=self.ready,
            workers=await self.worker.queue.workers(),
            in_flight=await self.worker.queue.in_flight(),
        )

    def _web_server(self) -> WebServer | None:
        settings = self.settings
        webhook = None
        port = settings.LISTEN_PORT
        if settings.WEBHOOK_URL is not None:
            assert settings.WEBHOOK_SECRET is not None  # enforced by Settings
            webhook = Webhook(
                settings.webhook_path,
                settings.WEBHOOK_SECRET.get_secret_value(),
                self.application,
            )
            port = DEFAULT_WEBHOOK_PORT if port is None else port
        if port is None:
            return None
        return WebServer(
            host=settings.LISTEN_HOST,
            port=port,
            ready=lambda: self.ready,
            metrics_text=self.metrics_text,
            webhook=webhook,
        )

    async def start(self) -> None:
        settings, application = self.settings, self.application
        await self.journal.connect()
        self._started.append("journal")
        pruned = await self.journal.prune()
        if pruned:
            logger.info("forgot %d finished job(s) past their retention", pruned)
        # getMe first: a refused token is reported at once, not after loading a model.
        await with_retries(application.initialize, self._retry, "connecting to the Bot API")
        self._started.append("application")
        logger.info("connected as @%s", application.bot.username)
        if self.engine is not None:
            self._started.append("engine")  # a half-started model process is closed too
            await self.engine.load()
        await self._set_commands()
        await self.worker.start()
        self._started.append("worker")
        if self.web is not None:
            await self.web.start()
            self._started.append("web")
        await application.start()
        self._started.append("updates")
        if settings.WEBHOOK_URL is not None:
            assert settings.WEBHOOK_SECRET is not None
            await application.bot.set_webhook(
                settings.WEBHOOK_URL,
                secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
            logger.info("webhook mode: %s", settings.WEBHOOK_URL)
        else:
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            logger.info("long polling %s", settings.TELEGRAM_API_URL)

    async def _set_commands(self) -> None:
        """The command menu, once per language (Telegram shows each user theirs); the
        source language's is also the default, for users of any other language."""
        bot = self.application.bot
        for language in i18n.languages():
            with i18n.use(language):
                menu = [BotCommand(name, description) for name, description in texts.commands()]
            if language == i18n.SOURCE_LANGUAGE:
                await bot.set_my_commands(menu)
            # Telegram takes two-letter ISO 639-1 codes here ("pt" for a pt_BR catalog).
            await bot.set_my_commands(menu, language_code=language.split("_", 1)[0])

    async def stop(self) -> None:
        """Stop in reverse order; safe after a partial start, and twice. A step that fails is
        logged and the next ones still run (the journal is always closed)."""
        started, self._started = self._started, []
        for part, step in (
            ("updates", self._stop_updates),
            # The job on the model finishes and is answered; the rest stays journaled.
            ("worker", lambda: self.worker.stop(self.settings.SHUTDOWN_GRACE_SECONDS)),
            ("web", self._stop_web),
            ("application", self.application.shutdown),
            ("engine", self._close_engine),
            ("journal", self.journal.close),
        ):
            if part in started:
                try:
                    await step()
                except Exception:
                    logger.exception("stopping the %s failed", part)

    async def _stop_updates(self) -> None:
        application = self.application
        # No new updates: polling stops (confirming the offset); the webhook answers 503, so
        # Telegram keeps the update for the next start.
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if self.web is not None and self.web.webhook is not None:
            self.web.webhook.accepting = False
        # Updates already fetched are handled: journaled, and told "Queued".
        await application.stop()

    async def _stop_web(self) -> None:
        if self.web is not None:
            await self.web.stop()

    async def _close_engine(self) -> None:
        if self.engine is not None:
            self.engine.close()


async def run(settings: Settings, *, segmenter_factory: SegmenterFactory | None = None) -> None:
    """Run the bot until SIGINT or SIGTERM, then shut down gracefully."""
    bot = StickerBot(settings, segmenter_factory=segmenter_factory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await bot.start()
        logger.info("the bot is up")
        await stop.wait()
        logger.info(
            "shutting down (up to %.0f s for the job in hand)", settings.SHUTDOWN_GRACE_SECONDS
        )
    finally:
        await bot.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    logger.info("stopped")
