"""The flags several commands share: ``--model`` with the cache and mirror flags,
``--precision``, ``--backend`` and ``--calibration`` (and reading the photos it names).

The library modules are imported for their names only (no TensorFlow)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmentation.models.resolve import AUTO
from segmentation.models.store import MIRROR_ENV, mirror_from_environment

if TYPE_CHECKING:
    import numpy as np

MODEL_HELP = (
    "'auto' (default: the most accurate installed model, else DeepLabV3 MobileNetV2, "
    "downloaded on first use), a name from `stickerbot models`, or a model file "
    "(.tflite, .pb frozen graph, FCN-8s .weights.h5, or a .model.json made by "
    "`stickerbot train`, with its own classes)"
)


def add_model_arguments(parser: Any) -> None:
    """``--model``, ``--cache-dir`` and ``--mirror`` (for every command that opens a model)."""
    parser.add_argument("--model", default=AUTO, metavar="auto|NAME|PATH", help=MODEL_HELP)
    add_cache_arguments(parser)


CACHE_HELP = "model cache (default $XDG_CACHE_HOME/stickerbot, else ~/.cache/stickerbot)"


def add_cache_arguments(parser: Any, *, inherited: bool = False) -> None:
    """``--cache-dir`` and ``--mirror``. ``inherited``: ``parser`` is an action under a command
    that has them too (``stickerbot models --mirror DIR download NAME``); the action's flags then
    set nothing when absent, so the command's value is not overwritten by the action's default
    (argparse's sub-parsers write their defaults over the parent's values)."""
    add_cache_dir(parser, inherited=inherited)
    parser.add_argument(
        "--mirror",
        default=argparse.SUPPRESS if inherited else None,
        metavar="URL|DIR",
        help=f"fetch models only from this base URL or folder (default: ${MIRROR_ENV})",
    )


def add_cache_dir(parser: Any, *, inherited: bool = False) -> None:
    """``--cache-dir`` alone (``inherited`` as for :func:`add_cache_arguments`)."""
    absent = argparse.SUPPRESS if inherited else None
    parser.add_argument("--cache-dir", type=Path, default=absent, metavar="DIR", help=CACHE_HELP)


def mirror(args: argparse.Namespace) -> str | None:
    """Where models come from: ``--mirror``, else the environment's mirror, else ``None``."""
    return args.mirror or mirror_from_environment()


def add_precision(
    parser: Any, text: str, *, default: str | None = "fp32", choices: str = "export"
) -> None:
    """``--precision`` among the ``"model"`` (what a backend computes in) or ``"export"``
    precisions."""
    from segmentation.export import PRECISIONS as EXPORTS
    from segmentation.segmenter import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS if choices == "model" else EXPORTS,
        default=default,
        required=default is None,
        help=text,
    )


def add_backend(parser: Any) -> None:
    """``--backend``: the engine that runs the model (``auto``: the fastest installed)."""
    from segmentation.segmenter import AUTO, BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=AUTO,
        help="engine: tensorflow (Keras; tf.lite for .tflite), openvino, tflite (LiteRT), or "
        "auto (default): the fastest installed for the model, as `python -m bench` measured; "
        "the output says which ran",
    )


def add_calibration(parser: Any, text: str) -> None:
    parser.add_argument(
        "--calibration", type=Path, nargs="+", metavar="PHOTO|DIR", default=None, help=text
    )


def calibration_photos(specs: Sequence[Path] | None) -> list[np.ndarray] | None:
    """The photos ``--calibration`` names (folders: their image files), decoded; ``None``
    when it was not given. An unreadable path is a usage error (``ModelUnavailable``)."""
    from segmentation.calibration import calibration_photos as decoded

    return decoded(specs) if specs else None
