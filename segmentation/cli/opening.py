"""How every command opens a model: ``--model auto|NAME|PATH`` resolved (downloaded on first
use, in the open) before it is loaded with TensorFlow's native chatter muted.

Nothing heavy is imported at module level."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from segmentation.cli.arguments import mirror
from segmentation.models.progress import progress_for
from segmentation.models.resolve import ResolvedModel, resolve_model

if TYPE_CHECKING:
    import numpy as np

    from segmentation.segmenter import Segmenter


def say(line: str) -> None:
    """A line for the user on stderr (download progress and such)."""
    print(line, file=sys.stderr, flush=True)


def resolve(args: argparse.Namespace, *, precision: str = "fp32") -> ResolvedModel:
    """The model of ``args.model``, installed (with a progress bar) if needed."""
    return resolve_model(
        args.model,
        cache_dir=args.cache_dir,
        mirror=mirror(args),
        progress=progress_for(sys.stderr),
        emit=say,
        precision=precision,
    )


def open_segmenter(
    args: argparse.Namespace,
    *,
    weights: Path | None = None,
    precision: str = "fp32",
    calibration: Sequence[np.ndarray] | None = None,
) -> Segmenter:
    """Resolve (download) in the open, then load with TensorFlow's native chatter muted
    unless ``-v``. An explicit FCN-8s ``weights`` file skips the resolution. ``calibration``:
    photos for precision int8 on the openvino backend (default: scikit-image's)."""
    from segmentation.segmenter import FCN8S, load_segmenter

    resolved_weights: Path | None = weights
    if weights is not None:
        model = FCN8S
    else:
        model, resolved_weights = resolve(args, precision=precision).load_arguments()
    with quiet_native_stderr(enabled=args.verbose == 0):
        segmenter = load_segmenter(
            model,
            weights=resolved_weights,
            cache_dir=args.cache_dir,
            precision=precision,
            backend=getattr(args, "backend", "auto"),
            calibration=calibration,
            tta=getattr(args, "tta", None),
        )
        if "tensorflow" in sys.modules:  # a TFLite model on LiteRT never imports it
            import tensorflow as tf

            # Probing the devices now keeps CUDA's complaints (no GPU) out of the output later.
            tf.config.list_physical_devices("GPU")
    return segmenter


@contextlib.contextmanager
def quiet_native_stderr(*, enabled: bool) -> Iterator[None]:
    """Silence what TensorFlow's C++ runtime writes straight to file descriptor 2 while the
    model loads and runs (absl's "log messages before InitializeLog", CUDA probing, the
    XNNPACK notice): ``TF_CPP_MIN_LOG_LEVEL`` does not reach those lines. Python exceptions
    still propagate and are reported after the descriptor is restored; ``-v`` keeps it all.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with Path(os.devnull).open("wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
