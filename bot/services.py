"""The bot's long-lived parts, handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.engine import Engine
from bot.intake import Intake
from bot.journal import Journal
from bot.stats import Stats
from bot.worker import Worker
from segmentation.classes import VOC_CLASSES


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    journal: Journal
    # None with QUEUE_URL set: the workers hold the model.
    engine: Engine | None
    worker: Worker
    intake: Intake
    stats: Stats
    # The model's class names (background first), read from its metadata at start-up.
    classes: tuple[str, ...] = VOC_CLASSES
