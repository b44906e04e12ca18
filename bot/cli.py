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

    from telegram.error import BadRequest, InvalidToken, NetworkError

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
    except NetworkError as exc:
        if isinstance(exc, BadRequest):  # a refused request, not the network: a real bug
            raise
        # Still failing after bot.retry's tries (no network, a wrong TELEGRAM_API_URL).
        print(
            f"stickerbot bot: cannot reach the Bot API at {settings.TELEGRAM_API_URL} ({exc}); "
            "check the network and TELEGRAM_API_URL",
            file=sys.stderr,
        )
        return EXIT_STARTUP
    return EXIT_OK


def add_worker_command(subparsers: Any) -> None:
    """Register ``stickerbot worker``: computes jobs from Redis (see README "Scaling out")."""
    from typing import get_args

    from bot.config import LogLevel, Settings
    from segmentation.cli.arguments import MODEL_HELP
    from segmentation.models.store import MIRROR_ENV
    from segmentation.segmenter import BACKENDS, PRECISIONS

    defaults = Settings.model_fields
    parser = subparsers.add_parser(
        "worker",
        help="compute stickers for a bot whose QUEUE_URL is Redis",
        description="A worker for any machine: claims jobs from Redis Streams, computes the "
        "sticker and stores the result for the bot. Needs only Redis (the bot downloads the "
        "photos). SIGTERM or SIGINT stops it gracefully. The model flags take the values of "
        "the bot's settings of the same name (.env.example).",
    )
    parser.add_argument(
        "--queue", required=True, metavar="URL", help="the bot's QUEUE_URL (redis://host:6379/0)"
    )
    parser.add_argument(
        "--model", default=defaults["MODEL"].default, metavar="auto|NAME|PATH", help=MODEL_HELP
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help="FCN-8s .weights.h5 (implies FCN-8s)"
    )
    parser.add_argument(
        "--zoom",
        default=defaults["MODEL_ZOOM"].default,
        metavar="off|view|tiles",
        help="as MODEL_ZOOM (default: %(default)s)",
    )
    parser.add_argument(
        "--mirror",
        default=None,
        metavar="URL|DIR",
        help=f"fetch models only from this base URL or folder (default: ${MIRROR_ENV})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults["MODEL_PRECISION"].default,
        help="as MODEL_PRECISION (default: %(default)s)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=defaults["MODEL_BACKEND"].default,
        help="as MODEL_BACKEND (default: %(default)s)",
    )
    parser.add_argument(
        "--tta",
        default=defaults["MODEL_TTA"].default,
        metavar="SPEC",
        help="as MODEL_TTA: 'off' (default) or scales and 'flip' by commas, e.g. '1,1.5,flip'",
    )
    parser.add_argument(
        "--model-threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per model (default: the backend's choice)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="models run side by side (default: %(default)s)",
    )
    parser.add_argument(
        "--thread",
        action="store_true",
        help="run the models in threads of this process (default: child processes)",
    )
    parser.add_argument("--name", default=None, help="worker name (default: host-pid)")
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=defaults["LEASE_SECONDS"].default,
        metavar="S",
        help="as the bot's LEASE_SECONDS: renewed 3 times a lease (default: %(default)s)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=defaults["MAX_ATTEMPTS"].default,
        metavar="N",
        help="as the bot's MAX_ATTEMPTS (default: %(default)s)",
    )
    parser.add_argument(
        "--max-image-bytes",
        type=int,
        default=defaults["MAX_IMAGE_BYTES"].default,
        metavar="N",
        help="largest photo computed, as MAX_IMAGE_BYTES (default: %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=defaults["SHUTDOWN_GRACE_SECONDS"].default,
        metavar="S",
        help="on SIGTERM, seconds the job in hand may take to finish (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=get_args(LogLevel),
        default=defaults["LOG_LEVEL"].default,
        help="(default: %(default)s)",
    )
    parser.set_defaults(handler=run_worker_command)


def run_worker_command(args: argparse.Namespace) -> int:
    import asyncio
    import functools
    from urllib.parse import urlsplit

    from bot.logs import setup_logging
    from bot.remote import default_name, serve
    from segmentation.errors import ModelUnavailable
    from segmentation.models.progress import LineProgress
    from segmentation.models.resolve import resolve_model
    from segmentation.models.store import mirror_from_environment
    from segmentation.options import parse_tta, parse_zoom
    from segmentation.segmenter import load_segmenter

    if args.concurrency < 1:
        print("stickerbot worker: --concurrency must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    try:
        tta = parse_tta(args.tta)
    except ValueError as exc:
        print(f"stickerbot worker: --tta: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        zoom = parse_zoom(args.zoom)
    except ValueError as exc:
        print(f"stickerbot worker: --zoom: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    password = urlsplit(args.queue).password
    setup_logging(args.log_level, secrets=[password] if password else [])
    model, weights = "fcn8s", args.weights
    try:
        if weights is None:
            # Resolved (downloaded on first use) once here, not by each of the N models.
            resolved = resolve_model(
                args.model,
                mirror=args.mirror or mirror_from_environment(),
                progress=LineProgress(),
                precision=args.precision,
            )
            model, weights = resolved.load_arguments()
    except ModelUnavailable as exc:
        print(f"stickerbot worker: --model: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    factory = functools.partial(
        load_segmenter,
        model,
        weights=weights,
        num_threads=args.model_threads,
        precision=args.precision,
        backend=args.backend,
        tta=tta,
    )
    try:
        asyncio.run(
            serve(
                args.queue,
                factory,
                isolate=not args.thread,
                concurrency=args.concurrency,
                name=args.name or default_name(),
                lease_s=args.lease_seconds,
                max_attempts=args.max_attempts,
                max_bytes=args.max_image_bytes,
                grace_s=args.grace,
                zoom=zoom,
            )
        )
    except ModelUnavailable as exc:
        print(f"stickerbot worker: --model: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return EXIT_OK


def main() -> int:
    from segmentation.cli import main as segmentation_main

    return segmentation_main(extra_commands=[add_bot_command, add_worker_command])
