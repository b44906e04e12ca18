"""``stickerbot classes``: a model's class names and their aliases."""

from __future__ import annotations

import argparse
from typing import Any

from segmentation.classes import AUTO, aliases_of
from segmentation.cli.exits import EXIT_OK


def add_classes(commands: Any) -> None:
    classes = commands.add_parser(
        "classes", help="list a model's classes (default: the 21 PASCAL VOC ones) and aliases"
    )
    classes.add_argument(
        "--model",
        default="auto",
        metavar="auto|NAME|PATH",
        help="the model whose classes to list (a trained .model.json's come from its "
        "metadata; the others are PASCAL VOC models)",
    )
    classes.set_defaults(handler=_run_classes)


def _run_classes(args: argparse.Namespace) -> int:
    from segmentation.models.registry import lookup
    from segmentation.models.resolve import model_file
    from segmentation.trained import model_classes

    spec = args.model.strip()
    if spec != AUTO and lookup(spec) is None:
        model_file(spec)  # a misspelt name or path says so (exit 5), as `make` does
    classes = model_classes(spec)
    print(f"{AUTO:<12} the largest object found (default)")
    for index, name in enumerate(classes):
        if index == 0:
            continue
        aliases = aliases_of(name, classes)
        print(f"{name:<12} {'aliases: ' + ', '.join(aliases) if aliases else ''}".rstrip())
    return EXIT_OK
