"""``stickerbot models`` and ``stickerbot evaluate``, and how every command opens a model:
``--model auto|NAME|PATH`` resolved (downloaded on first use) before it is loaded.

Part of the command line (:mod:`segmentation.cli` adds these commands); nothing heavy is
imported at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmentation.cli import EXIT_MODEL, EXIT_OK, EXIT_USAGE, quiet_native_stderr
from segmentation.errors import DatasetError, ModelUnavailable
from segmentation.models.progress import progress_for
from segmentation.models.registry import REGISTRY, lookup
from segmentation.models.resolve import AUTO, ResolvedModel, resolve_model
from segmentation.models.store import (
    MIRROR_ENV,
    ensure,
    installed_hash,
    installed_path,
    is_installed,
    mirror_from_environment,
    verify_file,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from segmentation.segmenter import Segmenter

MODEL_HELP = (
    "'auto' (default: the most accurate installed model, else DeepLabV3 MobileNetV2, "
    "downloaded on first use), a name from `stickerbot models`, or a model file "
    "(.tflite, .pb frozen graph, FCN-8s .weights.h5, or a .model.json made by "
    "`stickerbot train`, with its own classes)"
)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_model_arguments(parser: Any) -> None:
    """``--model``, ``--cache-dir`` and ``--mirror`` (for every command that opens a model)."""
    parser.add_argument("--model", default=AUTO, metavar="auto|NAME|PATH", help=MODEL_HELP)
    add_cache_arguments(parser)


def add_cache_arguments(parser: Any) -> None:
    parser.add_argument("--cache-dir", type=Path, help="model cache (default ~/.cache/stickerbot)")
    parser.add_argument(
        "--mirror",
        default=None,
        metavar="URL|DIR",
        help=f"fetch models only from this base URL or folder (default: ${MIRROR_ENV})",
    )


def _mirror(args: argparse.Namespace) -> str | None:
    return args.mirror or mirror_from_environment()


def resolve(args: argparse.Namespace, *, precision: str = "fp32") -> ResolvedModel:
    """The model of ``args.model``, installed (with a progress bar) if needed."""
    return resolve_model(
        args.model,
        cache_dir=args.cache_dir,
        mirror=_mirror(args),
        progress=progress_for(sys.stderr),
        emit=_say,
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


# --- models -----------------------------------------------------------------------------------


def add_models_command(commands: Any) -> None:
    models = commands.add_parser(
        "models",
        help="list, download or verify the models stickerbot can fetch",
        description="Without an action: list every registry model, installed or not. Models "
        f"download on first use; ${MIRROR_ENV} (a base URL or folder) replaces their URLs.",
    )
    add_cache_arguments(models)
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(handler=_run_list)
    actions = models.add_subparsers(title="actions", metavar="ACTION")
    download = actions.add_parser("download", help="download and install models by name")
    download.add_argument("names", nargs="+", metavar="NAME")
    add_cache_arguments(download)
    download.set_defaults(handler=_run_download)
    verify = actions.add_parser(
        "verify", help="check every installed model against its sha256 (exit 5 on a mismatch)"
    )
    add_cache_arguments(verify)
    verify.set_defaults(handler=_run_verify)


def _run_list(args: argparse.Namespace) -> int:
    rows = []
    for entry in REGISTRY:
        installed = is_installed(entry, args.cache_dir)
        rows.append(
            {
                "name": entry.name,
                "backend": entry.backend,
                "size": entry.size_text,
                "licence": entry.licence,
                "voc_miou": entry.published_miou,
                "installed": str(installed_path(entry, args.cache_dir)) if installed else None,
                "sha256": entry.sha256,
                "urls": list(entry.urls),
                "input": entry.input_spec,
                "description": entry.description,
            }
        )
    if args.json:
        print(json.dumps({"models": rows}))
        return EXIT_OK
    header = f"{'NAME':<30} {'BACKEND':<16} {'SIZE':>9}  {'VOC mIoU':>8}  {'LICENCE':<32} INSTALLED"
    print(header)
    for row in rows:
        miou = f"{row['voc_miou']:.1f}" if row["voc_miou"] is not None else "-"
        print(
            f"{row['name']:<30} {row['backend']:<16} {row['size']:>9}  {miou:>8}  "
            f"{row['licence']:<32} {'yes' if row['installed'] else 'no'}"
        )
    print()
    for row in rows:
        print(f"{row['name']}: {row['description']}; input {row['input']}")
    print("\nVOC mIoU: the authors' figure on PASCAL VOC 2012 val.")
    return EXIT_OK


def _run_download(args: argparse.Namespace) -> int:
    entries = []
    for name in args.names:
        entry = lookup(name)
        if entry is None:
            names = ", ".join(e.name for e in REGISTRY)
            print(
                f"stickerbot models: error: unknown model {name!r}; choose from: {names}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        entries.append(entry)
    for entry in entries:
        path = ensure(
            entry,
            cache_dir=args.cache_dir,
            mirror=_mirror(args),
            progress=progress_for(sys.stderr),
            emit=_say,
        )
        print(f"installed: {entry.name} {path}")
    return EXIT_OK


def _run_verify(args: argparse.Namespace) -> int:
    failed = 0
    for entry in REGISTRY:
        path = installed_path(entry, args.cache_dir)
        if not path.is_file():
            print(f"{entry.name:<30} not installed")
            continue
        try:
            digest = verify_file(
                path, installed_hash(entry), args.cache_dir, _say, entry.name, fresh=True
            )
        except ModelUnavailable as exc:
            failed += 1
            print(f"{entry.name:<30} FAILED: {exc}")
        else:
            print(f"{entry.name:<30} ok  sha256 {digest}")
    return EXIT_MODEL if failed else EXIT_OK


# --- evaluate ---------------------------------------------------------------------------------


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
    evaluate.add_argument("data", type=Path, metavar="DATA")
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
