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
        stats, info = services.stats, services.engine.info
        await message.reply_text(
            texts.stats_report(
                uptime_s=stats.uptime_s,
                model=info.name if info else "not loaded",
                backend=f"{info.backend} {info.precision}".strip() if info else "-",
                device=info.device if info else "-",
                queue_depth=services.worker.depth,
                in_progress=services.worker.in_progress,
                outcomes=stats.outcomes,
                rejected=stats.rejected,
                latencies=stats.latencies(),
                users=len(stats.users),
                top_classes=stats.top_classes(),
            )
        )


def handlers(services: Services) -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("stats", Admin(services).stats)]
