"""``stickerbot bot``: the bot's entry point, added to the ``stickerbot`` command line.

Nothing heavy is imported at module level: ``stickerbot --help`` must not pay for
TensorFlow or python-telegram-bot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
# Bad configuration, like a usage error (argparse's own code).
EXIT_CONFIG = 2
# The model could not be loaded or Telegram refused the token: nothing to run.
EXIT_STARTUP = 1


def add_bot_command(subparsers: Any) -> None:
    """Register ``stickerbot bot`` with the segmentation CLI's subcommands."""
    parser = subparsers.add_parser(
        "bot",
        help="run the Telegram bot",
        description="Run the Telegram sticker bot: long polling, or a webhook server when "
        "WEBHOOK_URL is set. Settings come from the environment and the .env file (see "
        ".env.example); SIGTERM or SIGINT stops it gracefully.",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        metavar="PATH",
        help="settings file read besides the environment (default: .env; missing is fine)",
    )
    parser.set_defaults(handler=run_bot)


def run_bot(args: argparse.Namespace) -> int:
    import asyncio

    from telegram.error import InvalidToken

    from bot.app import run
    from bot.config import ConfigError, load_settings
    from bot.logs import setup_logging
    from segmentation.errors import ModelUnavailable

    try:
        settings = load_settings(args.env_file)
    except ConfigError as exc:
        print(f"stickerbot bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    secrets = [settings.BOT_TOKEN.get_secret_value()]
    if settings.WEBHOOK_SECRET is not None:
        secrets.append(settings.WEBHOOK_SECRET.get_secret_value())
    setup_logging(settings.LOG_LEVEL, secrets=secrets)
    try:
        asyncio.run(run(settings))
    except InvalidToken:
        print("stickerbot bot: BOT_TOKEN was refused by the Bot API", file=sys.stderr)
        return EXIT_STARTUP
    except ModelUnavailable as exc:
        print(f"stickerbot bot: MODEL: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return EXIT_OK


def main() -> int:
    from segmentation.cli import main as segmentation_main

    return segmentation_main(extra_commands=[add_bot_command])
