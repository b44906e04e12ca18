"""``stickerbot weights download|import``: the seed's FCN-8s checkpoint as Keras weights."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from segmentation.cli.arguments import add_cache_dir
from segmentation.cli.exits import EXIT_OK, usage


def add_weights(commands: Any) -> None:
    weights = commands.add_parser("weights", help="download or import FCN-8s weights")
    weights.set_defaults(handler=lambda _args: usage(weights))
    actions = weights.add_subparsers(title="actions", metavar="ACTION")
    download = actions.add_parser(
        "download", help="fetch the seed's FCN-8s checkpoint (~500 MB) and import it"
    )
    add_cache_dir(download)
    download.set_defaults(handler=_run_download)
    imp = actions.add_parser("import", help="convert a TF-Slim FCN-8s checkpoint to Keras weights")
    imp.add_argument("checkpoint", metavar="CKPT_PREFIX", help="e.g. model_fcn8s_final.ckpt")
    add_cache_dir(imp)
    imp.set_defaults(handler=_run_import)


def _run_download(args: argparse.Namespace) -> int:
    from segmentation.models.progress import progress_for
    from segmentation.models.store import mirror_from_environment
    from segmentation.weights import download_checkpoint, import_checkpoint, weights_path

    prefix = download_checkpoint(
        args.cache_dir,
        mirror=mirror_from_environment(),
        progress=progress_for(sys.stderr),
        emit=lambda line: print(line, file=sys.stderr),
    )
    path = import_checkpoint(prefix, weights_path(args.cache_dir))
    print(f"wrote:    {path}")
    return EXIT_OK


def _run_import(args: argparse.Namespace) -> int:
    from segmentation.weights import import_checkpoint, weights_path

    path = import_checkpoint(args.checkpoint, weights_path(args.cache_dir))
    print(f"wrote:    {path}")
    return EXIT_OK
