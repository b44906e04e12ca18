"""``stickerbot evaluate``: mean IoU of a model on a labelled dataset, CRF off and on."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from segmentation.cli.arguments import add_model_arguments
from segmentation.cli.exits import EXIT_OK, EXIT_USAGE
from segmentation.errors import DatasetError


def add_evaluate_command(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="mean IoU of a model on a labelled dataset, CRF off and on",
        description="Mean IoU over the classes (one confusion matrix accumulated over the whole "
        "set, void 255 ignored; the FCN paper's definition), per-class IoU and pixel accuracy, "
        "with the dense CRF off and on. DATA: a PASCAL VOC layout (VOCdevkit/VOC2012 with "
        "ImageSets/Segmentation/SPLIT.txt, JPEGImages/, SegmentationClass/) or a folder with "
        "images/ and masks/ (same stems, single-channel or palette PNG class indices).",
    )
    evaluate.add_argument(
        "data", type=Path, metavar="DATA", help="the dataset folder (the layouts above)"
    )
    add_model_arguments(evaluate)
    evaluate.add_argument("--split", default="val", help="VOC split list (default: val)")
    evaluate.add_argument("--limit", type=int, metavar="N", help="only the first N samples")
    evaluate.add_argument(
        "--crf",
        choices=("both", "on", "off"),
        default="both",
        help="score with the CRF off, on, or both from one model run (default)",
    )
    evaluate.add_argument(
        "--inference-side",
        type=int,
        default=None,
        metavar="PX",
        help="longer side the network sees (default 512, as for stickers)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=_run_evaluate)


def _advance(bar: Any) -> None:
    bar.update()


def _run_evaluate(args: argparse.Namespace) -> int:
    from segmentation.datasets import discover
    from segmentation.evaluate import evaluate_modes
    from segmentation.limits import DEFAULT_INFERENCE_SIDE

    if args.limit is not None and args.limit < 1:
        print("stickerbot evaluate: error: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        samples = discover(args.data, args.split)[: args.limit]
    except DatasetError as exc:
        print(f"stickerbot evaluate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from segmentation.cli.opening import open_segmenter

    segmenter = open_segmenter(args)
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.crf]
    from tqdm import tqdm

    # disable=None: a bar on a terminal only (no carriage-return noise in logs and CI).
    try:
        with tqdm(
            total=len(samples), desc="evaluate", unit="photo", file=sys.stderr, disable=None
        ) as bar:
            results = evaluate_modes(
                segmenter,
                samples,
                crf_modes=modes,
                class_names=segmenter.classes,
                inference_side=args.inference_side or DEFAULT_INFERENCE_SIDE,
                on_sample=lambda _sample: _advance(bar),
            )
    except (DatasetError, ValueError) as exc:  # a bad sample, or model and classes disagree
        print(f"stickerbot evaluate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = {
        "model": segmenter.name,
        "data": str(args.data),
        "images": len(samples),
        "results": {("crf" if mode else "no_crf"): s.to_dict() for mode, s in results.items()},
    }
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"model:    {segmenter.name}")
    print(f"data:     {args.data} ({len(samples)} photos)")
    names = [
        n
        for n in results[modes[0]].class_names
        if any(n in s.per_class() for s in results.values())
    ]
    columns = [("crf on" if mode else "crf off", results[mode]) for mode in modes]
    print(f"{'':<14}" + "".join(f"{title:>10}" for title, _ in columns))
    print(f"{'mean IoU':<14}" + "".join(f"{s.miou:>10.1%}" for _, s in columns))
    print(f"{'pixel acc.':<14}" + "".join(f"{s.pixel_accuracy:>10.1%}" for _, s in columns))
    for name in names:
        cells = "".join(
            f"{s.per_class()[name]:>10.1%}" if name in s.per_class() else f"{'-':>10}"
            for _, s in columns
        )
        print(f"  {name:<12}{cells}")
    return EXIT_OK
