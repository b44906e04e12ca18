"""``stickerbot make``: a sticker from one photo, or from many photos and folders (the
console side of many is :mod:`segmentation.cli.batch`), with the flags of the sticker's look.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmentation.classes import AUTO, parse_class
from segmentation.cli.arguments import (
    add_backend,
    add_calibration,
    add_model_arguments,
    add_precision,
    calibration_photos,
)
from segmentation.cli.exits import EXIT_OK, EXIT_USAGE
from segmentation.cli.opening import quiet_native_stderr

if TYPE_CHECKING:
    from segmentation.options import StickerOptions
    from segmentation.segmenter import Segmenter

# The precision a backend reports for a model file that runs as it was built (a .tflite).
MODEL_PRECISION = "model"

# What a sticker made beside its photo is named (cat.jpg -> cat.sticker.png). A folder's
# files with this ending are left out, so a second `stickerbot make DIR` does not make
# stickers of the first run's stickers.
STICKER_SUFFIX = ".sticker.png"

# Real photos shipped inside scikit-image, usable as INPUT without any download.
SAMPLE_PREFIX = "skimage:"
SAMPLES = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "cat": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
}


def add_make(commands: Any) -> None:
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
        help=f"photo files or folders (their JPEG, PNG, WEBP... files, less the *{STICKER_SUFFIX} "
        "stickers made beside them), or (alone) a sample photo "
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
    add_model_arguments(make)
    make.add_argument("--weights", type=Path, help="FCN-8s .weights.h5 (implies FCN-8s)")
    add_backend(make)
    add_precision(
        make,
        "precision: fp32 (default, the most accurate); auto (bf16 where the CPU computes it "
        "natively, else fp32; never int8) or bf16 with the openvino backend; int8 with "
        "--backend openvino: quantised by NNCF on calibration photos (--calibration; the "
        "first run quantises and caches, 1-2 min for FCN-8s); float16/int8-dynamic/int8 on "
        "the other backends: FCN-8s's TFLite exports made by `stickerbot export`",
        choices="model",
    )
    add_calibration(
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
    from segmentation.options import DEFAULT_ZOOM, ZOOM_PRESETS

    make.add_argument(
        "--zoom",
        choices=list(ZOOM_PRESETS),
        default=DEFAULT_ZOOM,
        help="object zoom: the network looks again at the object's window of the full photo "
        "and its answer counts along the object's edge: 'view' one more pass, 'tiles' up to "
        f"two more (default: {DEFAULT_ZOOM})",
    )
    make.add_argument(
        "--no-zoom", dest="zoom", action="store_const", const="off", help="same as --zoom off"
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
        help="CRF parameters: tuned for the model (default: deeplab, or fcn8s for FCN-8s), "
        "a preset by name (seed: the seed post's; deeplab: tuned on real photos, with the "
        "edge band; fcn8s: the seed's), or off (same as --no-crf)",
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
        help="outline: a white stroke outside the object (stroke, the default), the same "
        "with a soft drop shadow (shadow), the seed's light band inside the edge (seed), or "
        "none",
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
    look.add_argument(
        "--shadow", action="store_true", help="add a soft drop shadow (to any --style)"
    )


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


class UnknownSample(Exception):
    """INPUT is neither a readable file nor a known sample (a usage error)."""


def _make_options(args: argparse.Namespace) -> StickerOptions:
    from segmentation.limits import DEFAULT_INFERENCE_SIDE
    from segmentation.options import StickerOptions, parse_zoom
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
        zoom=parse_zoom(args.zoom),
    )


def _load_model(args: argparse.Namespace) -> Segmenter:
    """The model --model names (downloaded in the open on first use; loading is quiet)."""
    from segmentation.cli.opening import open_segmenter

    return open_segmenter(
        args,
        weights=args.weights,
        precision=args.precision,
        calibration=calibration_photos(args.calibration),
    )


def _run_make(args: argparse.Namespace) -> int:
    if (
        len(args.input) > 1
        or Path(args.input[0]).is_dir()
        or (args.output is not None and args.output.is_dir())
    ):
        return _run_make_many(args)
    options = _make_options(args)
    if (problem := _missing_folder(args)) is not None:
        print(f"stickerbot make: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
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

    output: Path = args.output or stem.with_name(stem.name + STICKER_SUFFIX)
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
        from segmentation.cli.batch import sticker_report

        report = {
            # As each line of a folder's run says (`stickerbot make DIR --json | jq .status`).
            "input": args.input[0],
            "status": "made",
            **sticker_report(sticker, segmenter.name),
            "style": args.style,
            "backend": segmenter.backend,
            "precision": segmenter.precision,
            "tta": describe_tta(args.tta),
            "zoom": args.zoom,
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
            f"{', tta ' + describe_tta(args.tta) if args.tta.enabled else ''}"
            f"{', zoom ' + args.zoom if args.zoom != 'off' else ''})"
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
    from segmentation.cli.batch import make_many

    try:
        photos = expand((Path(spec) for spec in args.input), skip=_is_sticker)
    except FileNotFoundError as exc:
        print(f"stickerbot make: error: cannot read {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not photos:
        print("stickerbot make: error: no photos in " + ", ".join(args.input), file=sys.stderr)
        return EXIT_USAGE
    if args.output is not None:
        outputs = output_names(photos, args.output)
    else:
        outputs = {photo: photo.with_name(photo.stem + STICKER_SUFFIX) for photo in photos}
    segmenter = _load_model(args)
    # Not muted: the progress bar and the summary go to stderr.
    return make_many(photos, outputs, segmenter, options, jobs=args.jobs, as_json=args.json)



def _missing_folder(args: argparse.Namespace) -> str | None:
    """One photo: an output file whose folder does not exist, said before the model loads
    (many photos: -o is a folder, created)."""
    named = (("-o", args.output), ("--mask-out", args.mask_out), ("--webp-out", args.webp_out))
    for flag, path in named:
        if path is not None and not path.parent.is_dir():
            return f"{flag} {str(path)!r}: no such folder {str(path.parent)!r}"
    return None


def _is_sticker(path: Path) -> bool:
    """A sticker an earlier run wrote beside its photo."""
    return path.name.lower().endswith(STICKER_SUFFIX)


def _engine(backend: str, precision: str) -> str:
    """"tflite" for a model that runs at its own precision, else "openvino bf16" and such."""
    return backend if precision == MODEL_PRECISION else f"{backend} {precision}"
