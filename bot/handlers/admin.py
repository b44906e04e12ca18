"""/stats, for ADMIN_IDS only."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot import texts
from bot.services import Services


class Admin:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        assert message is not None
        if user is None or user.id not in self._services.settings.ADMIN_IDS:
            await message.reply_text(texts.ADMIN_ONLY)
            return
        services = self._services
        stats = services.stats
        info = None if services.engine is None else services.engine.info
        counts = await services.worker.counts()
        report = texts.stats_report(
            uptime_s=stats.uptime_s,
            model=info.name if info else "not loaded",
            backend=f"{info.backend} {info.precision}".strip() if info else "-",
            device=info.device if info else "-",
            queue_depth=counts.queued,
            in_progress=counts.running,
            outcomes=stats.outcomes,
            rejected=stats.rejected,
            latencies=stats.latencies(),
            users=len(stats.users),
            top_classes=stats.top_classes(),
        )
        if services.settings.QUEUE_URL is not None:
            workers = await services.worker.queue.workers()
            report += "\n" + texts.workers_report(
                [(w.name, w.alive, w.last_seen_s, w.done, w.redelivered) for w in workers]
            )
        await message.reply_text(report)


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("stats", Admin(services).stats)]
