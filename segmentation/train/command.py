"""``stickerbot train``: the seeds' recipe from the command line.

Only ``argparse`` is imported at start-up (``stickerbot --help`` stays fast); the handler
imports TensorFlow. By default it runs the whole recipe into ``--output DIR``: FCN-32s from
ImageNet VGG-16, then FCN-16s from ``DIR/fcn32s.model.json``, then FCN-8s from
``DIR/fcn16s.model.json``; ``--stage`` runs one of them (``--init`` says from what).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from segmentation.datasets import Sample
    from segmentation.train.checks import CheckedData
    from segmentation.train.config import TrainConfig
    from segmentation.train.loop import InitialWeights

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_BAD_DATA: Final = 6
ALL_STAGES: Final = "all"


def add_train(commands: Any) -> None:
    from segmentation.fcn import ARCHITECTURES
    from segmentation.train.recipe import (
        DEFAULT_CROP,
        DEFAULT_LEARNING_RATE,
        DEFAULT_SCALES,
        INIT_NONE,
        INIT_SEED_FCN8S,
        INIT_VGG16,
        RECIPE_STEPS,
    )

    train = commands.add_parser(
        "train",
        help="train FCN-32s -> FCN-16s -> FCN-8s (the seeds' recipe) or fine-tune on your data",
        description="Train segmentation models on a PASCAL VOC folder (JPEGImages/, "
        "SegmentationClass/ or SBD's SegmentationClassAug/, ImageSets/Segmentation/) or on "
        "images/ + masks/. Writes OUT/STAGE.weights.h5 + OUT/STAGE.model.json (use it with "
        "--model); checkpoints in OUT/checkpoints/STAGE (a rerun resumes), TensorBoard logs "
        f"in OUT/logs/STAGE. Exit codes: 0 ok, 2 usage, 5 model unavailable, {EXIT_BAD_DATA} "
        "bad data.",
    )
    train.add_argument("data", type=Path, metavar="DATA", help="dataset folder")
    train.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUT",
        help="folder for the models, checkpoints and logs",
    )
    train.add_argument(
        "--stage",
        choices=(ALL_STAGES, *ARCHITECTURES),
        default=ALL_STAGES,
        help="one stage, or all three in order (default)",
    )
    train.add_argument(
        "--init",
        metavar="WHAT",
        help=f"starting weights: {INIT_VGG16} (ImageNet, downloaded once; FCN-32s default), "
        f"{INIT_SEED_FCN8S} (the seed's imported FCN-8s), {INIT_NONE} (random) or a "
        ".model.json (default for FCN-16s/8s: OUT's previous stage)",
    )
    train.add_argument("--split", default="train", help="training split (default: train)")
    train.add_argument(
        "--aug",
        action="store_true",
        help="VOC: use SBD's SegmentationClassAug labels and train_aug split",
    )
    train.add_argument(
        "--val-split", help="validation split (VOC: val), evaluated as `stickerbot evaluate` does"
    )
    train.add_argument(
        "--val-every",
        type=int,
        default=0,
        metavar="N",
        help="validation mIoU every N steps (default: off)",
    )
    train.add_argument(
        "--val-limit",
        type=int,
        default=None,
        metavar="N",
        help="validate on the first N pairs only",
    )
    train.add_argument(
        "--classes",
        metavar="A,B",
        help="train on these classes only (others become background), e.g. cat,dog",
    )
    train.add_argument(
        "--classes-file",
        type=Path,
        metavar="FILE",
        help="the dataset's class names, one a line, label value = line number "
        "(background first); default: the 21 PASCAL VOC classes",
    )
    train.add_argument(
        "--steps",
        type=int,
        default=RECIPE_STEPS,
        help=f"steps per stage (default {RECIPE_STEPS}, as the seeds)",
    )
    train.add_argument("--batch-size", type=int, default=1, help="default 1, as the seeds")
    train.add_argument(
        "--lr",
        type=float,
        default=DEFAULT_LEARNING_RATE,
        help=f"Adam's learning rate (default {DEFAULT_LEARNING_RATE})",
    )
    train.add_argument(
        "--crop",
        type=int,
        default=DEFAULT_CROP,
        help=f"square training crop, a multiple of 32 (default {DEFAULT_CROP})",
    )
    train.add_argument(
        "--scales",
        type=float,
        nargs=2,
        default=DEFAULT_SCALES,
        metavar=("MIN", "MAX"),
        help="random rescaling range (default 0.5 2)",
    )
    train.add_argument(
        "--no-flip", dest="flip", action="store_false", help="no random left-right flips"
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the data order/augmentation")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        metavar="N",
        help="save a checkpoint every N steps; rerunning the command resumes from the last "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--mixed-precision",
        choices=("auto", "on", "off"),
        default="auto",
        help="float16 compute: auto = on when a GPU is present",
    )
    train.add_argument(
        "--width",
        type=float,
        default=1.0,
        metavar="F",
        help="backbone width multiplier (1 = VGG-16, needed for ImageNet "
        "weights; smaller trains from scratch, e.g. on CPU)",
    )
    train.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out (and count) bad pairs instead of stopping",
    )
    from segmentation.cli.arguments import add_cache_arguments

    add_cache_arguments(train)  # --cache-dir, --mirror: where VGG-16 comes from
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)


# --- data -------------------------------------------------------------------------------------


def _discover(root: Path, split: str, aug: bool) -> list[Sample]:
    from segmentation.datasets import discover

    return list(discover(root, split, aug=aug))


def read_class_file(path: Path) -> tuple[str, ...]:
    from segmentation.classes import check_class_list

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    try:
        return check_class_list(names)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def model_classes(
    source: tuple[str, ...], wanted: str | None
) -> tuple[tuple[str, ...], tuple[int, ...] | None]:
    """The model's class list and the label map from the dataset's (``None``: identity)."""
    from segmentation.classes import parse_class
    from segmentation.train.data import subset_label_map

    if not wanted:
        return source, None
    names: list[str] = []
    for text in wanted.split(","):
        name = parse_class(text, allow_auto=False, classes=source)
        if name not in names:
            names.append(name)
    kept = (source[0], *names)
    return kept, subset_label_map(source, kept)


def _keep_with_classes(data: CheckedData, label_map: Sequence[int]) -> list[Sample]:
    """The pairs with at least one pixel of a kept class."""
    return [
        sample
        for sample, present in zip(data.samples, data.labels, strict=True)
        if any(0 < label_map[v] < 255 for v in present)
    ]


# --- init -------------------------------------------------------------------------------------


def initial_weights(
    spec: str, cache_dir: Path | None, mirror: str | None = None
) -> InitialWeights | None:
    """The weights ``--init`` names (None: random)."""
    from segmentation.classes import VOC_CLASSES
    from segmentation.train.init import model_weights, vgg16_weights
    from segmentation.train.loop import InitialWeights
    from segmentation.train.recipe import INIT_NONE, INIT_SEED_FCN8S, INIT_VGG16

    if spec == INIT_NONE:
        return None
    if spec == INIT_VGG16:
        from segmentation.models.progress import progress_for
        from segmentation.train.vgg16 import fetch_vgg16

        path = fetch_vgg16(cache_dir, mirror=mirror, progress=progress_for(sys.stderr))
        return InitialWeights(vgg16_weights(path), None, INIT_VGG16)
    if spec == INIT_SEED_FCN8S:
        from segmentation.weights import load_fcn8s

        model = load_fcn8s(cache_dir=cache_dir)
        return InitialWeights(model_weights(model), VOC_CLASSES, INIT_SEED_FCN8S)
    from segmentation.trained import load_model

    model, info = load_model(spec)
    return InitialWeights(model_weights(model), info.classes, str(spec))


def _default_init(stage: str, output: Path) -> str:
    from segmentation.train.config import previous_stage
    from segmentation.train.recipe import INIT_VGG16
    from segmentation.trained import paths_of

    previous = previous_stage(stage)
    if previous is None:
        return INIT_VGG16
    return str(paths_of(output / previous)[0])


# --- run --------------------------------------------------------------------------------------


def _validator(
    root: Path,
    split: str,
    limit: int | None,
    classes: tuple[str, ...],
    source: tuple[str, ...],
) -> Any:
    from segmentation.train.validate import validator

    return validator(_discover(root, split, False)[:limit], classes, source)


def run_train(args: argparse.Namespace) -> int:
    from segmentation.classes import VOC_CLASSES
    from segmentation.errors import DatasetError, ModelUnavailable
    from segmentation.train.checks import BadSample, EmptySplit, check_samples

    try:
        source = read_class_file(args.classes_file) if args.classes_file else VOC_CLASSES
        classes, label_map = model_classes(source, args.classes)
    except ValueError as exc:
        print(f"stickerbot train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        samples = _discover(args.data, args.split, args.aug)
        checked = check_samples(samples, len(source), skip_bad=args.skip_bad)
        kept = (
            list(checked.samples) if label_map is None else _keep_with_classes(checked, label_map)
        )
        if not kept:
            raise EmptySplit(f"no training pair shows any of: {', '.join(classes[1:])}")
        validate = None
        if args.val_split and args.val_every:
            validate = _validator(args.data, args.val_split, args.val_limit, classes, source)
    except (BadSample, EmptySplit, DatasetError, OSError) as exc:
        print(f"stickerbot train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    if checked.skipped:
        print(f"skipped:  {len(checked.skipped)} bad pair(s) (see the log)")
    try:
        configs = [
            _config(args, stage, classes, label_map, len(kept), len(checked.skipped))
            for stage in _stages(args.stage)
        ]
    except ValueError as exc:  # steps, crop, scales, learning rate out of range
        print(f"stickerbot train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for config in configs:
            _run_stage(args, config, kept, validate)
    except ModelUnavailable as exc:
        from segmentation.cli.exits import EXIT_MODEL

        print(f"stickerbot train: {exc}", file=sys.stderr)
        return EXIT_MODEL
    return EXIT_OK


def _stages(stage: str) -> tuple[str, ...]:
    from segmentation.fcn import ARCHITECTURES

    return ARCHITECTURES if stage == ALL_STAGES else (stage,)


def _config(
    args: argparse.Namespace,
    stage: str,
    classes: tuple[str, ...],
    label_map: tuple[int, ...] | None,
    count: int,
    skipped: int,
) -> TrainConfig:
    from segmentation.fcn8s import SEED_CONFIG, Fcn8sConfig
    from segmentation.train.config import TrainConfig

    init = args.init if args.init and (args.stage != ALL_STAGES or stage == "fcn32s") else None
    backbone = SEED_CONFIG
    if args.width != 1.0:
        backbone = Fcn8sConfig(
            widths=tuple(max(1, round(w * args.width)) for w in SEED_CONFIG.widths),
            fc_units=max(1, round(SEED_CONFIG.fc_units * args.width)),
        )
    return TrainConfig(
        architecture=stage,
        output=args.output / stage,
        classes=classes,
        label_map=label_map,
        init=init or _default_init(stage, args.output),
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        crop=args.crop,
        scales=(args.scales[0], args.scales[1]),
        flip=args.flip,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        validate_every=args.val_every,
        mixed_precision=_mixed_precision(args.mixed_precision),
        config=backbone,
        data_description={
            "root": str(args.data),
            "split": args.split,
            "aug": args.aug,
            "pairs": count,
            "skipped": skipped,
        },
    )


def _mirror(args: argparse.Namespace) -> str | None:
    from segmentation.models.store import mirror_from_environment

    return args.mirror or mirror_from_environment()


def _mixed_precision(choice: str) -> bool:
    if choice != "auto":
        return choice == "on"
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _run_stage(
    args: argparse.Namespace,
    config: TrainConfig,
    samples: Sequence[Sample],
    validate: Any,
) -> None:
    from segmentation.train.loop import train

    result = train(
        config,
        [sample.image for sample in samples],
        [sample.mask for sample in samples],
        initial=lambda: initial_weights(config.init, args.cache_dir, _mirror(args)),
        validate=validate,
        progress=not args.quiet,
    )
    losses = result.losses
    trend = f", loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else ""
    print(
        f"{config.architecture}: steps {result.first_step} -> {result.steps}{trend}"
        + (f", val mIoU {result.val_miou[-1][1]:.3f}" if result.val_miou else "")
    )
    print(f"wrote:    {result.model_file}")
