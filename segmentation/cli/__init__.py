"""``stickerbot``: the command line, a thin shell over :func:`segmentation.pipeline.make_sticker`.

Heavy imports (TensorFlow, the pipeline) happen inside the command handlers so that
``stickerbot --help`` answers at once. Other packages add commands (the bot adds
``stickerbot bot``) through ``main(extra_commands=...)``.

One module per command family: :mod:`~segmentation.cli.make` (one photo or many, with
:mod:`~segmentation.cli.batch` the console side of many), :mod:`~segmentation.cli.classes`,
:mod:`~segmentation.cli.weights` (download, import), :mod:`~segmentation.cli.export`,
:mod:`~segmentation.cli.models`, :mod:`~segmentation.cli.evaluate`, and ``train`` from
:mod:`segmentation.train.command`; the flags several commands share are in
:mod:`~segmentation.cli.arguments`, how a command opens a model in
:mod:`~segmentation.cli.opening`, the exit codes in :mod:`~segmentation.cli.exits`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from segmentation.cli.classes import add_classes
from segmentation.cli.evaluate import add_evaluate_command
from segmentation.cli.exits import (
    EXIT_BAD_IMAGE,
    EXIT_MODEL,
    EXIT_NO_OBJECT,
    EXIT_OK,
    EXIT_USAGE,
    usage,
)
from segmentation.cli.export import add_export
from segmentation.cli.make import add_make
from segmentation.cli.models import add_models_command
from segmentation.cli.opening import quiet_native_stderr
from segmentation.cli.weights import add_weights
from segmentation.errors import (
    ImageTooLarge,
    InvalidImage,
    ModelUnavailable,
    NoObjectFound,
    StickerError,
    UnknownClass,
)

__all__ = [
    "EXIT_BAD_IMAGE",
    "EXIT_MODEL",
    "EXIT_NO_OBJECT",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandAdder",
    "build_parser",
    "main",
    "quiet_native_stderr",
]

logger = logging.getLogger(__name__)

CommandAdder = Callable[[Any], None]


def main(argv: Sequence[str] | None = None, *, extra_commands: Sequence[CommandAdder] = ()) -> int:
    """Parse ``argv`` and run the command; returns the process exit code."""
    parser = build_parser(extra_commands)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # TensorFlow's C++ start-up chatter (CPU features, CUDA probing) is noise for a CLI user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if args.verbose < 2 else "0")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UnknownClass as exc:
        print(f"stickerbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoObjectFound as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return EXIT_NO_OBJECT
    except (InvalidImage, ImageTooLarge) as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return EXIT_BAD_IMAGE
    except ModelUnavailable as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return EXIT_MODEL
    except StickerError as exc:  # pragma: no cover - every subclass is handled above
        print(f"stickerbot: {exc}", file=sys.stderr)
        return 1


def build_parser(extra_commands: Sequence[CommandAdder] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stickerbot",
        description="Turn a photo into a Telegram sticker: segmentation (FCN-8s, DeepLab or "
        "a model you trained), dense CRF, soft edges and a white outline, fitted into 512x512.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.set_defaults(handler=lambda _args: usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_make(commands)
    add_classes(commands)
    add_weights(commands)
    add_export(commands)
    from segmentation.train.command import add_train

    add_train(commands)
    add_models_command(commands)
    add_evaluate_command(commands)
    for add in extra_commands:
        add(commands)
    return parser
