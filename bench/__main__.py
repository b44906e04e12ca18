"""Benchmark of the sticker pipeline on real photos: ``python -m bench``.

Prints, in one run, on a fixed set of real photos (``skimage.data`` and ``../shared/fixtures``):

1. the machine: CPU and vector extensions (AVX2, AVX-512, VNNI, BF16, AMX);
2. start-up: ``stickerbot --help``; ``stickerbot make`` with a TFLite model and the bot's
   model process, each with TensorFlow's interpreter (before) and LiteRT (after), wall time
   and peak RSS (:mod:`bench.startup`); per backend, a fresh worker's cold start to ready,
   sequential stickers/s and peak RSS (:mod:`bench.worker`);
3. FCN-8s at the benchmark resolution (512 x 512) on every engine (:mod:`bench.engines`):
   time as a multiple of the FLOP-bound time at its precision (FLOPs / best GEMM of the run
   in fp32 or bf16), speed-up over TensorFlow fp32, argmax agreement with it on the real
   photos (same weights: see :mod:`bench.fitted`), the issue's targets met or not;
4. per-stage medians of :func:`segmentation.pipeline.make_sticker` (decode, model, CRF,
   compose, encode, total) with DeepLab and with FCN-8s, and post-processing (CRF + compose
   + encode) as a fraction of FCN-8s's model time;
5. our CRF (the classes competing in the object region, shrunk when large) against the
   seed's full-image 21-label CRF on DeepLab's probabilities: speed-up and mask IoU.

All figures are ratios within this run, taken interleaved so that other processes on a
shared machine disturb numerator and denominator alike.

    python -m bench [--repeat N] [--precisions int8-dynamic,int8] [--work-dir DIR] [--quick]
                    [--fcn-only] [--isa avx2]

``--isa avx2`` runs the FCN-8s engines table again in a child process with oneDNN, OpenVINO
and XLA capped to AVX2 (:mod:`bench.isa`): an emulated AVX2-only CPU, labelled as such, with
the kernels each engine used read back to check that the cap held.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.isa import CAPS, EMULATION_CAVEAT

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
FIXTURE_PHOTOS = (
    "seed_cat/cat.jpg",
    "seed_cat/me.jpg",
    "seed_cat/small_cat.jpg",
    "voc_2007_000129/image.jpg",
    "pet_dog/image.bmp",
)
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")

# The resolution of the FCN-8s figures: the default inference side, square.
BENCH_SIDE: Final = 512

# Faster precisions compared with fp32 by default (``int8`` full-integer calibration adds
# ~2 minutes per bucket; ask for it with --precisions).
DEFAULT_PRECISIONS: Final = ("int8-dynamic",)

# The fitted weights and the exports are kept here between runs (they take minutes).
DEFAULT_WORK_DIR: Final = Path(tempfile.gettempdir()) / "stickerbot-bench"

STAGES: Final = ("decode", "model", "crf", "compose", "mask", "encode", "total")
POST_STAGES: Final = ("crf", "compose", "mask", "encode")


def photos() -> Iterator[tuple[str, bytes]]:
    """(name, encoded bytes) of every benchmark photo that is present."""
    from PIL import Image
    from skimage import data

    for name in SKIMAGE_PHOTOS:
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).save(buffer, format="PNG")
        yield f"skimage:{name}", buffer.getvalue()
    for relative in FIXTURE_PHOTOS:
        path = SHARED / "fixtures" / relative
        if path.exists():
            yield relative, path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench", description=doc.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="the real .tflite model")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument(
        "--precisions",
        default=",".join(DEFAULT_PRECISIONS),
        help="FCN-8s precisions to compare with fp32 (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--no-tflite-fp32",
        dest="tflite_fp32",
        action="store_false",
        help="skip timing FCN-8s in TFLite fp32 (a 540 MB export)",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument(
        "--int8-control",
        action="store_true",
        help="also time OpenVINO int8 with accuracy control (its first run quantises for "
        "tens of minutes, and on the benchmark's stand-in FCN-8s it did not reach the bound "
        "in 48 min; cached afterwards)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the FCN-8s sections (left: start-up, DeepLab pipeline, post-processing, CRF)",
    )
    parser.add_argument(
        "--fcn-only",
        action="store_true",
        help="only the FCN-8s engines table (ceiling, engines, agreement, targets)",
    )
    parser.add_argument(
        "--isa",
        choices=sorted(CAPS),
        help="emulate a CPU limited to this ISA: the engines table in a capped child process",
    )
    # Set in that child: the cap it runs under (its environment is already capped).
    parser.add_argument("--capped", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.isa and not args.capped:
        return _capped_child(args.isa, argv if argv is not None else sys.argv[1:])
    precisions = [p for p in args.precisions.split(",") if p]
    samples = list(photos())
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)

    from segmentation.image import load_image, resize_longer_side
    from segmentation.segmenter import load_segmenter

    small = {name: resize_longer_side(load_image(data), BENCH_SIDE) for name, data in samples}
    deeplab = load_segmenter(args.model)
    deeplab.warmup()

    _section("machine")
    from bench.machine import cpu_flags, cpu_name, fcn8s_flops

    flags = cpu_flags()
    # Under an AVX2 cap nothing computes bf16 natively (OpenVINO falls back to fp32).
    with_bf16 = bool(flags.get("avx512_bf16") or flags.get("amx_bf16")) and not args.capped
    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores")
    print("extensions: " + " ".join(f"{f}={'yes' if v else 'no'}" for f, v in flags.items()))
    print("GPU: none lent to this run (CPU figures only)")
    if args.capped:
        print(f"EMULATED: {EMULATION_CAVEAT}")
        _tensorflow_cap_check(args.capped)
    if args.fcn_only or args.capped:
        _fcn8s_sections(args, work, small, deeplab, precisions, with_bf16, fcn8s_flops)
        return 0
    if not with_bf16:
        print(
            "no AVX512-BF16/AMX: bfloat16 runs as converted float32 arithmetic (less memory "
            "traffic, no more FLOP/s), so it cannot beat the best float32 GEMM"
        )

    _section("start-up: TFLite model before (TensorFlow's interpreter) and after (LiteRT)")
    from bench import startup

    print(f"stickerbot --help: {_help_seconds(args.repeat) * 1000:.0f} ms (median)")
    photo_files = _photo_files(work, samples)
    startup.cli_make(args.model, photo_files[0], work, args.repeat)
    startup.model_process(args.model, photo_files[:3], args.repeat)
    startup.worker("deeplab (all photos)", ["--model", args.model], photo_files)

    if not args.quick:
        fcn = _fcn8s_sections(args, work, small, deeplab, precisions, with_bf16, fcn8s_flops)
        _section("start-up: FCN-8s model process per backend (fitted weights)")
        fcn_args = ["--model", "fcn8s", "--weights", str(fcn["weights"])]
        startup.worker("fcn8s tensorflow fp32", [*fcn_args, "--backend", "tensorflow"], photo_files)
        startup.worker("fcn8s auto fp32", fcn_args, photo_files)
        if with_bf16:
            startup.worker("fcn8s auto auto", [*fcn_args, "--precision", "auto"], photo_files)
        for precision in precisions:
            startup.worker(
                f"fcn8s {precision}",
                ["--model", "fcn8s", "--cache-dir", str(work), "--precision", precision],
                photo_files,
            )

    _section("pipeline: DeepLab (real model)")
    _pipeline(samples, deeplab, args.repeat)
    if not args.quick:
        _section("pipeline: FCN-8s fp32 (fitted weights)")
        medians = _pipeline(samples, fcn["segmenter"], args.repeat)
        post = sum(medians[s] for s in POST_STAGES)
        print(
            f"post-processing (crf + compose + mask + encode) {post:.0f} ms = "
            f"{post / medians['model']:.2f}x the model's {medians['model']:.0f} ms"
        )

    _section("post-processing: now (tuned CRF, sticker-scale compose) vs before (seed, full-res)")
    _post_processing(samples, deeplab, args.repeat)

    _section("CRF: ours (competing classes, object region) vs the seed's (21 labels, whole image)")
    _crf_comparison(samples, small, deeplab, args.repeat)
    return 0


# --- FCN-8s -----------------------------------------------------------------------------------


def _fcn8s_sections(
    args: argparse.Namespace,
    work: Path,
    small: dict[str, np.ndarray],
    deeplab: Any,
    precisions: Sequence[str],
    with_bf16: bool,
    fcn8s_flops: Callable[[int, int], dict[str, float]],
) -> dict[str, Any]:
    from bench.engines import Engine, agreement, avx2_verdict, compare, verdicts
    from bench.fitted import fitted_fcn8s
    from bench.openvino_engines import openvino_engines
    from segmentation.export import FP32, INT8, export, exported_buckets
    from segmentation.fcn8s import bucket_shape, build_fcn8s
    from segmentation.segmenter import Fcn8sLiteSegmenter, Fcn8sSegmenter

    _section(f"FCN-8s at {BENCH_SIDE}x{BENCH_SIDE}")
    weights = work / "fitted.weights.h5"
    start = time.perf_counter()
    if weights.exists():
        model = build_fcn8s(kernel_initializer="zeros")
        model.load_weights(weights)
    else:
        model = fitted_fcn8s(list(small.values()), deeplab)
        model.save_weights(weights)
    print(
        f"weights: random VGG-16 + score layers fitted to DeepLab ({weights.name}, "
        f"{time.perf_counter() - start:.0f} s)"
    )
    fp32 = Fcn8sSegmenter(model)
    fp32.warmup()

    square = (BENCH_SIDE, BENCH_SIDE)
    buckets = sorted({bucket_shape(*rgb.shape[:2]) for rgb in small.values()} | {square})
    # Reduced precisions get every bucket the photos use (the argmax agreement compares like
    # with like: same padding as Keras). TFLite fp32 is timed at the benchmark size only.
    wanted = {precision: buckets for precision in precisions}
    if args.tflite_fp32:
        wanted[FP32] = [square]
    lite: dict[str, Fcn8sLiteSegmenter] = {}
    for precision, needed in wanted.items():
        have = exported_buckets(work, precision)
        missing = [b for b in needed if b not in have]
        if missing:
            start = time.perf_counter()
            calibration = list(small.values())[:4] if precision == INT8 else []
            export(model, work, precision, buckets=missing, calibration=calibration)
            print(f"exported {precision} for {missing} in {time.perf_counter() - start:.0f} s")
        have = exported_buckets(work, precision)
        lite[precision] = Fcn8sLiteSegmenter(
            {b: have[b] for b in needed}, precision, num_threads=os.cpu_count()
        )
        lite[precision].warmup()

    flops = fcn8s_flops(*square)
    total = sum(flops.values())
    top = sorted(flops.items(), key=lambda item: item[1], reverse=True)[:3]
    print(
        f"FLOPs: {total / 1e9:.1f} G ("
        + ", ".join(f"{name} {value / 1e9:.1f} G" for name, value in top)
        + ")"
    )
    photo = small.get("skimage:astronaut")
    if photo is None or photo.shape[:2] != square:
        photo = np.random.default_rng(0).integers(0, 256, (*square, 3), np.uint8)
    engine_list = [
        Engine("tensorflow fp32", FP32, fp32),
        # The same model through its plain Keras layers (no segmentation.kernels): what the
        # faster inference equivalents buy, measured in this run.
        Engine("tensorflow fp32 plain", FP32, _PlainKeras(model)),
    ]
    for precision, seg in lite.items():
        engine_list.append(Engine(f"tflite {precision}", _computes_in(precision), seg))
    openvino = openvino_engines(weights, with_bf16, args.int8_control)
    engine_list += openvino
    _kernel_report(openvino, args.capped)
    times = compare(engine_list, photo, total, max(5, args.repeat), with_bf16, args.capped)

    # Agreement needs every photo's bucket: TFLite fp32 is exported at the benchmark size only.
    skipped = ("tensorflow fp32", "tensorflow fp32 plain", f"tflite {FP32}")
    others = [e for e in engine_list if e.name not in skipped]
    print("\nargmax agreement with TensorFlow fp32 (same weights), share of pixels per photo")
    shares = agreement(fp32, others, small)
    verdicts(engine_list, times, shares)
    if args.capped:
        avx2_verdict(engine_list, times, shares)
    else:
        print(
            "AVX2-only target (>= 1.3x TensorFlow fp32, int8 allowed): not measurable on this "
            "CPU; `python -m bench --isa avx2` emulates it"
            if with_bf16
            else "this CPU has no native bf16: the AVX2 target (>= 1.3x TensorFlow fp32) applies"
        )
    # The exports' interpreters and OpenVINO's compiled models hold their packed weights (GBs
    # for fp32): free them before the pipeline runs, which measures the Keras fp32 model alone.
    lite.clear()
    engine_list.clear()
    others.clear()
    openvino.clear()
    gc.collect()
    return {"segmenter": fp32, "weights": weights}


class _PlainKeras:
    """``model``'s softmax through its own Keras layers, as one compiled graph."""

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        def forward(batch: Any) -> Any:
            return tf.nn.softmax(model(batch, training=False), axis=-1)

        self._run = tf.function(forward)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from segmentation.fcn8s import preprocess

        return np.asarray(self._run(preprocess(rgb[np.newaxis]))[0])


def _computes_in(precision: str) -> str:
    """The arithmetic a TFLite export's GEMMs run in (for the FLOP bound)."""
    return "int8" if precision.startswith("int8") else "fp32"


# --- ISA cap ----------------------------------------------------------------------------------


def _capped_child(isa: str, argv: Sequence[str]) -> int:
    """The engines table again in a child whose oneDNN, OpenVINO and XLA are capped to
    ``isa``; TFLite is left out (XNNPACK dispatches from the CPU flags, with no cap)."""
    from bench.isa import capped_env

    env = capped_env(isa, os.environ)
    if isa == "avx2":
        # TensorFlow turns its oneDNN ops on by default only on CPUs with AVX512-VNNI/BF16,
        # AMX or AVX-VNNI: an AVX2-only CPU runs Eigen (its contractions on oneDNN's sgemm).
        env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    command = [sys.executable, "-m", "bench", *child_argv(argv, isa)]
    print(f"== emulated {isa.upper()}-only CPU: {EMULATION_CAVEAT} ==")
    print(
        "environment: "
        + " ".join(
            f"{k}={env[k]}"
            for k in (
                "ONEDNN_MAX_CPU_ISA",
                "OV_CPU_MAX_ISA",
                "XLA_FLAGS",
                "OPENBLAS_CORETYPE",
                "TF_ENABLE_ONEDNN_OPTS",
            )
            if k in env
        ),
        flush=True,
    )
    return subprocess.run(command, env=env, check=False).returncode


def child_argv(argv: Sequence[str], isa: str) -> list[str]:
    """The capped child's arguments: ``argv`` without ``--isa``, plus ``--capped ISA`` and
    no TFLite engines (their XNNPACK kernels cannot be capped)."""
    passed: list[str] = []
    skip = False
    for arg in argv:
        if not skip and arg != "--isa" and not arg.startswith("--isa="):
            passed.append(arg)
        skip = arg == "--isa"
    return [*passed, "--capped", isa, "--precisions", "", "--no-tflite-fp32"]


def _tensorflow_cap_check(isa: str) -> None:
    """What oneDNN inside TensorFlow reports and runs under this process's capped env."""
    from bench.isa import (
        onednn_verbose_isas,
        reported_isa,
        tensorflow_onednn_log,
        within,
        xla_zmm_uses,
    )

    with tempfile.TemporaryDirectory() as dump:
        log = tensorflow_onednn_log(os.environ, sys.executable, xla_dump=dump)
        zmm = xla_zmm_uses(dump)
    reported, executed = onednn_verbose_isas(log)
    kernels = sorted({k for ks in executed.values() for k in ks} - {""})
    over = within([reported, *kernels], isa)
    print(
        f"tensorflow's oneDNN under the cap: reports '{reported or 'nothing'}' "
        f"({reported_isa(reported) or '?'}); named kernels: {', '.join(kernels) or 'none'}; "
        f"unnamed: {', '.join(sorted(k for k in executed if '' in executed[k])) or 'none'}"
        + (f": cap {isa} NOT held ({', '.join(over)})" if over else f": cap {isa} held")
    )
    import numpy  # noqa: F401  (loads OpenBLAS, for openblas_core)

    from bench.isa import openblas_core

    core = openblas_core()
    print(f"numpy's OpenBLAS kernels: {core or 'unknown (no threadpoolctl)'}")
    print(
        "XLA (the fc6-fc8 head): "
        + ("no objects to check" if zmm is None else f"{zmm} uses of 512-bit registers in its code")
        + (" (cap held)" if zmm == 0 else "")
    )


def _kernel_report(engines: Sequence[Any], isa: str) -> None:
    """The kernels OpenVINO chose for each engine's convolutions (and, capped, the verdict)."""
    from bench.isa import cap_verdict, compute_kernels, highest_isa, runtime_nodes

    for engine in engines:
        compiled = getattr(engine.segmenter, "_compiled", None)  # the backend's compiled model
        if compiled is None:
            continue
        kernels = compute_kernels(runtime_nodes(compiled))
        counts = {k: kernels.count(k) for k in sorted(set(kernels))}
        print(
            f"{engine.name} kernels: "
            + ", ".join(f"{k} x{n}" for k, n in counts.items())
            + f" (strongest ISA: {highest_isa(kernels) or '?'})"
        )
        if isa:
            print(f"  {cap_verdict(kernels, isa)}")


# --- processes --------------------------------------------------------------------------------


def _help_seconds(repeat: int) -> float:
    """Median wall time of ``stickerbot --help`` in a fresh interpreter."""
    runs = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from segmentation.cli import main; main(['--help'])"],
            check=False,
            capture_output=True,
        )
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _photo_files(work: Path, samples: Sequence[tuple[str, bytes]]) -> list[Path]:
    folder = work / "photos"
    folder.mkdir(exist_ok=True)
    paths = []
    for index, (_, data) in enumerate(samples):
        path = folder / f"{index:02d}.img"
        path.write_bytes(data)
        paths.append(path)
    return paths


# --- pipeline ---------------------------------------------------------------------------------


def _pipeline(
    samples: Sequence[tuple[str, bytes]], segmenter: Any, repeat: int
) -> dict[str, float]:
    """Per-photo and overall per-stage medians of make_sticker; returns the overall ones."""
    from segmentation.errors import NoObjectFound
    from segmentation.options import StickerOptions
    from segmentation.pipeline import make_sticker

    stage_ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
    print(f"{'photo':<28} {'target':<11} " + " ".join(f"{s:>8}" for s in STAGES))
    for name, data in samples:
        runs: list[dict[str, float]] = []
        target = "-"
        for _ in range(repeat):
            try:
                sticker = make_sticker(data, segmenter, StickerOptions())
            except NoObjectFound:
                break
            runs.append(sticker.timings_ms)
            target = sticker.target
        if not runs:
            print(f"{name:<28} {'(none)':<11}")
            continue
        medians = {k: statistics.median(r[k] for r in runs) for k in stage_ms}
        for key, value in medians.items():
            stage_ms[key].append(value)
        print(f"{name:<28} {target:<11} " + " ".join(f"{medians[k]:8.1f}" for k in stage_ms))
    overall = {k: statistics.median(v) for k, v in stage_ms.items()}
    print(f"{'median over photos (ms)':<40} " + " ".join(f"{v:8.1f}" for v in overall.values()))
    return overall


def _crf_comparison(
    samples: Sequence[tuple[str, bytes]],
    small: dict[str, np.ndarray],
    segmenter: Any,
    repeat: int,
) -> None:
    from segmentation import crf
    from segmentation.classes import class_index
    from segmentation.errors import NoObjectFound
    from segmentation.options import StickerOptions
    from segmentation.pipeline import choose_target, detected_classes

    print(
        f"{'photo':<28} {'ours ms':>8} {'seed ms':>8} {'speed-up':>8} {'mask IoU':>8} "
        f"{'2-label IoU':>11}"
    )
    ratios, ious, two_ious = [], [], []
    for name, _ in samples:
        rgb = small[name]
        probs = segmenter.predict(rgb)
        detected = detected_classes(probs.argmax(-1), StickerOptions().min_detected_share)
        try:
            target = class_index(choose_target("auto", detected))
        except NoObjectFound:
            continue
        ours_ms, ours = _median_ms(repeat, crf.refine_classes, rgb, probs, target)
        seed_ms, labels = _median_ms(repeat, crf.refine_full, rgb, probs)
        # What target-vs-rest (crf.refine on the two-label probability) would give instead.
        two_label = crf.refine(rgb, crf.target_probability(probs, target)) > 0.5
        seed = labels == target
        iou, two_iou = _iou(ours > 0.5, seed), _iou(two_label, seed)
        ratios.append(seed_ms / ours_ms)
        ious.append(iou)
        two_ious.append(two_iou)
        print(
            f"{name:<28} {ours_ms:8.1f} {seed_ms:8.1f} {seed_ms / ours_ms:7.1f}x {iou:8.3f} "
            f"{two_iou:11.3f}"
        )
    if ratios:
        print(
            f"{'median':<28} {'':>8} {'':>8} {statistics.median(ratios):7.1f}x "
            f"{statistics.median(ious):8.3f} {statistics.median(two_ious):11.3f}"
        )
        print(
            f"{'min':<28} {'':>8} {'':>8} {min(ratios):7.1f}x {min(ious):8.3f} "
            f"{min(two_ious):11.3f}"
        )


# A photo sent as a file from a 16-megapixel phone camera (4624 x 3472).
LARGE_PHOTO: Final = (3472, 4624)


def _post_processing(samples: Sequence[tuple[str, bytes]], segmenter: Any, repeat: int) -> None:
    """CRF + compose + encode (PNG) of today's pipeline against the previous one
    (:mod:`bench.legacy`), interleaved, per photo, with a 16 MP photo among them."""
    from PIL import Image

    from bench import legacy
    from segmentation import compose
    from segmentation.classes import class_index
    from segmentation.errors import NoObjectFound
    from segmentation.image import load_image, resize_longer_side
    from segmentation.options import StickerOptions
    from segmentation.pipeline import (
        choose_target,
        detected_classes,
        photo_mask,
        refined_probability,
        select_object,
    )

    options = StickerOptions()
    large = Image.fromarray(load_image(dict(samples)["skimage:astronaut"])).resize(
        LARGE_PHOTO[::-1], Image.Resampling.BICUBIC
    )
    buffer = io.BytesIO()
    large.save(buffer, format="JPEG", quality=90)
    photos_here = [*samples, ("16 MP (astronaut, upscaled)", buffer.getvalue())]

    def now(photo: np.ndarray, small: np.ndarray, probs: np.ndarray, index: int) -> float:
        prob = select_object(
            refined_probability(small, probs, index, options, segmenter.name), options
        )
        start = time.perf_counter()
        rgba = compose.compose_sticker(photo, prob, options.outline)
        compose_ms = (time.perf_counter() - start) * 1000
        photo_mask(prob, *photo.shape[:2])
        compose.encode_png(rgba)
        return compose_ms

    # "compose" is the sticker's own composition (now at the sticker's scale); "now" also
    # holds the photo-resolution mask (Sticker.mask), which grows with the photo.
    print(f"{'photo':<28} {'pixels':>7} {'before ms':>9} {'now ms':>8} {'ratio':>6} {'compose':>8}")
    befores, nows = [], []
    for name, data in photos_here:
        photo = load_image(data, options.limits)
        small = resize_longer_side(photo, options.inference_side)
        probs = segmenter.predict(small)
        try:
            index = class_index(
                choose_target(
                    "auto", detected_classes(probs.argmax(-1), options.min_detected_share)
                )
            )
        except NoObjectFound:
            continue
        before_ms, now_ms, compose_ms = [], [], []
        for _ in range(max(1, repeat)):
            start = time.perf_counter()
            legacy.post_process(photo, small, probs, index)
            before_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            compose_ms.append(now(photo, small, probs, index))
            now_ms.append((time.perf_counter() - start) * 1000)
        before, current = statistics.median(before_ms), statistics.median(now_ms)
        befores.append(before)
        nows.append(current)
        print(
            f"{name:<28} {photo.shape[0] * photo.shape[1] / 1e6:6.1f}M {before:9.1f} "
            f"{current:8.1f} {current / before:5.2f}x {statistics.median(compose_ms):8.1f}"
        )
    if befores:
        print(
            f"{'median over photos':<36} {statistics.median(befores):9.1f} "
            f"{statistics.median(nows):8.1f} "
            f"{statistics.median(nows) / statistics.median(befores):5.2f}x"
        )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _median_ms(
    repeat: int, run: Callable[..., np.ndarray], *args: object
) -> tuple[float, np.ndarray]:
    """Median wall time (ms) of ``repeat`` calls of ``run(*args)`` and the last result."""
    times = []
    result = np.empty(0)
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = run(*args)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), result


def _section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


if __name__ == "__main__":
    sys.exit(main())
