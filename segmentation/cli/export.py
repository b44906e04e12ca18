"""``stickerbot export``: FCN-8s as TFLite files (float16, int8, ...) in the cache, one per
input shape bucket, which ``stickerbot make --precision P`` then runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segmentation.cli.arguments import (
    add_cache_dir,
    add_calibration,
    add_precision,
    calibration_photos,
)
from segmentation.cli.exits import EXIT_OK, EXIT_USAGE
from segmentation.errors import ModelUnavailable


def add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="export FCN-8s to TFLite (float16, int8, ...) for faster inference",
        description="Convert the imported FCN-8s weights to TFLite files in the cache, one per "
        "input shape bucket; `stickerbot make --precision P` then uses them. int8 calibrates "
        "its activation ranges on real photos (default: scikit-image's).",
    )
    add_precision(export, "precision of the export", default=None)
    export.add_argument("--weights", type=Path, help="FCN-8s .weights.h5 (default: in the cache)")
    add_cache_dir(export)
    add_calibration(
        export, "int8: photos or folders of photos to calibrate on (default: scikit-image's)"
    )
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from segmentation.export import INT8, default_calibration_photos, export
    from segmentation.weights import default_cache_dir, load_fcn8s

    calibration = []
    if args.precision == INT8:
        try:
            calibration = calibration_photos(args.calibration) or default_calibration_photos()
        except ModelUnavailable as exc:
            print(f"stickerbot export: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    model = load_fcn8s(weights=args.weights, cache_dir=args.cache_dir)
    cache = args.cache_dir or default_cache_dir()
    for path in export(model, cache, args.precision, calibration=calibration):
        print(f"wrote:    {path}")
    return EXIT_OK
