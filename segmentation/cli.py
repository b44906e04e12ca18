"""``stickerbot``: the command line, a thin shell over :func:`segmentation.pipeline.make_sticker`.

Heavy imports (TensorFlow, the pipeline) happen inside the command handlers so that
``stickerbot --help`` answers at once. Other packages add commands (the bot adds
``stickerbot bot``) through ``main(extra_commands=...)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmentation.classes import AUTO, aliases_of, parse_class
from segmentation.errors import (
    ImageTooLarge,
    InvalidImage,
    ModelUnavailable,
    NoObjectFound,
    StickerError,
    UnknownClass,
)

if TYPE_CHECKING:
    import numpy as np

    from segmentation.options import StickerOptions
    from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_OBJECT = 3
EXIT_BAD_IMAGE = 4
EXIT_MODEL = 5

# The precision a backend reports for a model file that runs as it was built (a .tflite).
MODEL_PRECISION = "model"

# Real photos shipped inside scikit-image, usable as INPUT without any download.
SAMPLE_PREFIX = "skimage:"
SAMPLES = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "cat": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
}

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
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_make(commands)
    _add_classes(commands)
    _add_weights(commands)
    _add_export(commands)
    _add_train(commands)
    from segmentation.cli_models import add_evaluate_command, add_models_command

    add_models_command(commands)
    add_evaluate_command(commands)
    for add in extra_commands:
        add(commands)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


# --- make -------------------------------------------------------------------------------------


def _add_make(commands: Any) -> None:
    make = commands.add_parser(
        "make",
        help="make stickers from photos (files or folders)",
        description="Make a sticker-ready 512x512 PNG from each photo; the model is loaded "
        "once (the default model is fetched on first use, 2 MB). With several photos or a "
        "folder: one line per photo, a summary, and the run goes on past a bad photo. Exit "
        "codes: 0 ok, 2 usage, 3 no object of the target class (in any photo), 4 invalid or "
        "too large image (any), 5 model unavailable (e.g. offline).",
    )
    make.add_argument(
        "input",
        metavar="INPUT",
        nargs="+",
        help=f"photo files or folders (their JPEG, PNG, WEBP... files), or (alone) a sample photo "
        f"shipped with scikit-image: {', '.join(SAMPLE_PREFIX + name for name in SAMPLES)}",
    )
    make.add_argument(
        "-o",
        "--output",
        type=Path,
        help="sticker PNG (default: INPUT.sticker.png); with several photos, a folder where "
        "each sticker is named after its photo (cat.jpg -> DIR/cat.png)",
    )
    make.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="several photos: run CRF, compose and encode of N photos at once in worker "
        "processes while the one model serves them (default 1: all in this process)",
    )
    make.add_argument(
        "--class",
        dest="target",
        default=AUTO,
        metavar="NAME",
        help="class to cut out (a PASCAL VOC class, or one of a trained model's: see "
        "`stickerbot classes --model PATH`), or 'auto' for the largest object (default)",
    )
    make.add_argument(
        "--no-crf", dest="crf", action="store_false", help="skip dense-CRF refinement"
    )
    _add_sticker_look(make)
    from segmentation.cli_models import add_model_arguments

    add_model_arguments(make)
    make.add_argument("--weights", type=Path, help="FCN-8s .weights.h5 (implies FCN-8s)")
    _add_backend(make)
    _add_precision(
        make,
        "precision: fp32 (default, the most accurate); auto (bf16 where the CPU computes it "
        "natively, else fp32; never int8) or bf16 with the openvino backend; int8 with "
        "--backend openvino: quantised by NNCF on calibration photos (--calibration; the "
        "first run quantises and caches, 1-2 min for FCN-8s); float16/int8-dynamic/int8 on "
        "the other backends: FCN-8s's TFLite exports made by `stickerbot export`",
        choices="model",
    )
    _add_calibration(
        make,
        "--backend openvino --precision int8: photos or folders of photos to calibrate the "
        "quantisation on (default: scikit-image's real photos); each set is cached apart",
    )
    from segmentation.options import DEFAULT_TTA

    make.add_argument(
        "--tta",
        type=_tta,
        default=DEFAULT_TTA,
        metavar="SPEC",
        help="test-time augmentation: the network also sees the photo at these scales and "
        "mirrored, probabilities averaged: 'off', or scales and 'flip' by commas, e.g. "
        f"'1,1.5,flip' (default: {DEFAULT_TTA}); more passes, more model time",
    )
    make.add_argument(
        "--mask-out",
        type=Path,
        metavar="MASK.png",
        help="also write the object mask (0/255, photo resolution)",
    )
    make.add_argument("--webp-out", type=Path, metavar="OUT.webp", help="also write a WEBP sticker")
    make.add_argument(
        "--inference-side",
        type=int,
        default=None,
        metavar="PX",
        help="longer side the network sees (default 512)",
    )
    make.add_argument(
        "--json", action="store_true", help="print one JSON object (one line per photo)"
    )
    make.set_defaults(handler=_run_make)


CRF_OFF = "off"
TUNED = "tuned"


def _tta(text: str) -> Any:
    """``--tta SPEC`` as :class:`segmentation.options.TtaOptions` (argparse reports errors)."""
    from segmentation.options import parse_tta

    try:
        return parse_tta(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_sticker_look(make: Any) -> None:
    """--crf, --edge and the outline flags (names from the library, no heavy imports)."""
    from segmentation.options import CRF_PRESETS, OUTLINE_STYLES

    look = make.add_argument_group("the sticker's look")
    look.add_argument(
        "--crf",
        dest="crf_preset",
        choices=[TUNED, *CRF_PRESETS, CRF_OFF],
        default=TUNED,
        help="CRF parameters: tuned for the model (default), the seed post's, or off "
        "(same as --no-crf)",
    )
    look.add_argument(
        "--edge",
        choices=("soft", "hard"),
        default="soft",
        help="anti-aliased edge with the object's colours (default) or the seed's binary cut",
    )
    look.add_argument(
        "--style",
        choices=list(OUTLINE_STYLES),
        default="stroke",
        help="outline: a white stroke outside the object (default), the seed's light band "
        "inside the edge, or none",
    )
    look.add_argument(
        "--stroke-width",
        type=int,
        metavar="PX",
        help="outline width in sticker pixels (default: 10 for stroke, 5 for seed)",
    )
    look.add_argument(
        "--stroke-color",
        type=_colour,
        metavar="#RRGGBB",
        help="outline colour (default: white for stroke, #f8f8f8 for seed)",
    )
    look.add_argument("--shadow", action="store_true", help="add a soft drop shadow")


def _colour(text: str) -> tuple[int, int, int]:
    value = text.removeprefix("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise argparse.ArgumentTypeError(f"expected a colour like #ffffff, got {text!r}")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _outline_style(args: argparse.Namespace) -> Any:
    import dataclasses

    from segmentation.options import OUTLINE_STYLES

    changes: dict[str, Any] = {"shadow": args.shadow}
    if args.stroke_width is not None:
        changes["width"] = args.stroke_width
    if args.stroke_color is not None:
        changes["color"] = args.stroke_color
    return dataclasses.replace(OUTLINE_STYLES[args.style], **changes)


def _read_input(spec: str) -> tuple[bytes, Path]:
    """Photo bytes and the default output stem for INPUT."""
    if spec.startswith(SAMPLE_PREFIX):
        name = spec.removeprefix(SAMPLE_PREFIX)
        if name not in SAMPLES:
            raise UnknownSample(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLES)}")
        import io

        from PIL import Image
        from skimage import data

        buffer = io.BytesIO()
        Image.fromarray(getattr(data, SAMPLES[name])()).save(buffer, format="PNG")
        return buffer.getvalue(), Path.cwd() / name
    path = Path(spec)
    try:
        return path.read_bytes(), path.with_suffix("")
    except OSError as exc:
        raise UnknownSample(f"cannot read {spec!r}: {exc.strerror}") from exc


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


class UnknownSample(Exception):
    """INPUT is neither a readable file nor a known sample (a usage error)."""


def _make_options(args: argparse.Namespace) -> StickerOptions:
    from segmentation.limits import DEFAULT_INFERENCE_SIDE
    from segmentation.options import StickerOptions
    from segmentation.trained import model_classes

    return StickerOptions(
        # parse_class fails fast on a typo, before the model is loaded (a trained model's
        # classes are read from its metadata).
        target=parse_class(args.target, classes=model_classes(args.model)),
        crf=args.crf and args.crf_preset != CRF_OFF,
        crf_preset=TUNED if args.crf_preset == CRF_OFF else args.crf_preset,
        outline=_outline_style(args),
        soft_edge=args.edge == "soft",
        inference_side=args.inference_side or DEFAULT_INFERENCE_SIDE,
        webp=args.webp_out is not None,
    )


def _load_model(args: argparse.Namespace) -> Segmenter:
    """The model --model names (downloaded in the open on first use; loading is quiet)."""
    from segmentation.cli_models import open_segmenter

    return open_segmenter(
        args,
        weights=args.weights,
        precision=args.precision,
        calibration=_calibration_photos(args.calibration),
    )


def _add_calibration(parser: Any, text: str) -> None:
    parser.add_argument(
        "--calibration", type=Path, nargs="+", metavar="PHOTO|DIR", default=None, help=text
    )


def _calibration_photos(specs: Sequence[Path] | None) -> list[np.ndarray] | None:
    """The photos ``--calibration`` names (folders: their image files), decoded; ``None``
    when it was not given. An unreadable path is a usage error (``ModelUnavailable``)."""
    from segmentation.calibration import calibration_photos

    return calibration_photos(specs) if specs else None


def _run_make(args: argparse.Namespace) -> int:
    if (
        len(args.input) > 1
        or Path(args.input[0]).is_dir()
        or (args.output is not None and args.output.is_dir())
    ):
        return _run_make_many(args)
    options = _make_options(args)
    try:
        data, stem = _read_input(args.input[0])
    except UnknownSample as exc:
        print(f"stickerbot make: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from segmentation.options import describe_tta
    from segmentation.pipeline import make_sticker

    segmenter = _load_model(args)
    with quiet_native_stderr(enabled=args.verbose == 0):
        sticker = make_sticker(data, segmenter, options)

    output: Path = args.output or stem.with_name(stem.name + ".sticker.png")
    output.write_bytes(sticker.png)
    outputs = {"png": str(output)}
    if args.webp_out is not None and sticker.webp is not None:
        args.webp_out.write_bytes(sticker.webp)
        outputs["webp"] = str(args.webp_out)
    if args.mask_out is not None:
        from PIL import Image

        Image.fromarray(sticker.mask.astype("uint8") * 255).save(args.mask_out, format="PNG")
        outputs["mask"] = str(args.mask_out)

    if args.json:
        from segmentation.cli_batch import sticker_report

        report = {
            **sticker_report(sticker, segmenter.name),
            "style": args.style,
            "backend": segmenter.backend,
            "precision": segmenter.precision,
            "tta": describe_tta(args.tta),
            "outputs": outputs,
        }
        print(json.dumps(report))
    else:
        found = ", ".join(f"{n} {s:.1%}" for n, s in sticker.detected.items())
        times = ", ".join(f"{k} {v:.0f} ms" for k, v in sticker.timings_ms.items())
        print(f"detected: {found}")
        print(
            f"target:   {sticker.target} (coverage {sticker.coverage:.1%}, "
            f"crf {'on' if sticker.crf else 'off'}, model {segmenter.name} on "
            f"{_engine(segmenter.backend, segmenter.precision)}"
            f"{', tta ' + describe_tta(args.tta) if args.tta.enabled else ''})"
        )
        print(f"timings:  {times}")
        for kind, path in outputs.items():
            print(f"wrote:    {path} ({kind})")
    return EXIT_OK


def _run_make_many(args: argparse.Namespace) -> int:
    """Several photos or folders: the model once, a line per photo (segmentation.batch)."""
    options = _make_options(args)
    if args.mask_out is not None or args.webp_out is not None:
        print(
            "stickerbot make: error: --mask-out and --webp-out name one file: "
            "use them with one photo",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.jobs < 1:
        print(f"stickerbot make: error: --jobs must be 1 or more, not {args.jobs}", file=sys.stderr)
        return EXIT_USAGE
    from segmentation.batch import expand, output_names
    from segmentation.cli_batch import make_many

    try:
        photos = expand(Path(spec) for spec in args.input)
    except FileNotFoundError as exc:
        print(f"stickerbot make: error: cannot read {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not photos:
        print("stickerbot make: error: no photos in " + ", ".join(args.input), file=sys.stderr)
        return EXIT_USAGE
    if args.output is not None:
        outputs = output_names(photos, args.output)
    else:
        outputs = {photo: photo.with_name(photo.stem + ".sticker.png") for photo in photos}
    segmenter = _load_model(args)
    # Not muted: the progress bar and the summary go to stderr.
    return make_many(photos, outputs, segmenter, options, jobs=args.jobs, as_json=args.json)


# --- classes ----------------------------------------------------------------------------------


def _add_classes(commands: Any) -> None:
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
    from segmentation.trained import model_classes

    classes = model_classes(args.model)
    print(f"{AUTO:<12} the largest object found (default)")
    for index, name in enumerate(classes):
        if index == 0:
            continue
        aliases = aliases_of(name, classes)
        print(f"{name:<12} {'aliases: ' + ', '.join(aliases) if aliases else ''}".rstrip())
    return EXIT_OK


# --- weights ----------------------------------------------------------------------------------


def _add_weights(commands: Any) -> None:
    weights = commands.add_parser("weights", help="download or import FCN-8s weights")
    weights.set_defaults(handler=lambda _args: _usage(weights))
    actions = weights.add_subparsers(title="actions", metavar="ACTION")
    download = actions.add_parser(
        "download", help="fetch the seed's FCN-8s checkpoint (~500 MB) and import it"
    )
    download.add_argument("--cache-dir", type=Path, help="default ~/.cache/stickerbot")
    download.set_defaults(handler=_run_download)
    imp = actions.add_parser("import", help="convert a TF-Slim FCN-8s checkpoint to Keras weights")
    imp.add_argument("checkpoint", metavar="CKPT_PREFIX", help="e.g. model_fcn8s_final.ckpt")
    imp.add_argument("--cache-dir", type=Path, help="default ~/.cache/stickerbot")
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


# --- train ----------------------------------------------------------------------------------


def _add_train(commands: Any) -> None:
    from segmentation.train.command import add_train

    add_train(commands)


# --- export -----------------------------------------------------------------------------------


def _add_precision(
    parser: Any, text: str, *, default: str | None = "fp32", choices: str = "export"
) -> None:
    """``--precision`` among the ``"model"`` (what a backend computes in) or ``"export"``
    precisions; the modules are imported for their names only (no TensorFlow)."""
    from segmentation.export import PRECISIONS as EXPORTS
    from segmentation.segmenter import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS if choices == "model" else EXPORTS,
        default=default,
        required=default is None,
        help=text,
    )


def _add_backend(parser: Any) -> None:
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


def _add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="export FCN-8s to TFLite (float16, int8, ...) for faster inference",
        description="Convert the imported FCN-8s weights to TFLite files in the cache, one per "
        "input shape bucket; `stickerbot make --precision P` then uses them. int8 calibrates "
        "its activation ranges on real photos (default: scikit-image's).",
    )
    _add_precision(export, "precision of the export", default=None)
    export.add_argument("--weights", type=Path, help="FCN-8s .weights.h5 (default: in the cache)")
    export.add_argument("--cache-dir", type=Path, help="default ~/.cache/stickerbot")
    _add_calibration(
        export, "int8: photos or folders of photos to calibrate on (default: scikit-image's)"
    )
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from segmentation.export import INT8, default_calibration_photos, export
    from segmentation.weights import default_cache_dir, load_fcn8s

    calibration = []
    if args.precision == INT8:
        try:
            calibration = _calibration_photos(args.calibration) or default_calibration_photos()
        except ModelUnavailable as exc:
            print(f"stickerbot export: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    model = load_fcn8s(weights=args.weights, cache_dir=args.cache_dir)
    cache = args.cache_dir or default_cache_dir()
    for path in export(model, cache, args.precision, calibration=calibration):
        print(f"wrote:    {path}")
    return EXIT_OK


def _engine(backend: str, precision: str) -> str:
    """"tflite" for a model that runs at its own precision, else "openvino bf16" and such."""
    return backend if precision == MODEL_PRECISION else f"{backend} {precision}"
