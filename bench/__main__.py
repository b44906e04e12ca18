"""Benchmark of the sticker pipeline on real photos: ``python -m bench``.

Prints, in one run, on a fixed set of real photos (``skimage.data`` and ``../shared/fixtures``):

1. the machine: CPU, vector extensions, the ceiling (large matrix product, GFLOP/s: NumPy's
   BLAS and TensorFlow's in float32, TensorFlow's in bfloat16);
2. ``stickerbot --help`` time; per backend, a fresh worker process's cold start to ready,
   sequential stickers/s and peak RSS (:mod:`bench.worker`);
3. FCN-8s at the benchmark resolution (512 x 512): FLOPs, fp32 forward time as a multiple of
   the FLOP-bound time (FLOPs / best matmul rate), each faster precision's speed-up and its
   argmax agreement with fp32 on the real photos (same weights: see :mod:`bench.fitted`);
4. per-stage medians of :func:`segmentation.pipeline.make_sticker` (decode, model, CRF,
   compose, encode, total) with DeepLab and with FCN-8s, and post-processing (CRF + compose
   + encode) as a fraction of FCN-8s's model time;
5. our CRF (the classes competing in the object region, shrunk when large) against the
   seed's full-image 21-label CRF on DeepLab's probabilities: speed-up and mask IoU.

All figures are ratios within this run; times are the best (machine figures) or the median
(pipeline stages) of ``--repeat`` runs, taken interleaved so that other processes on a shared
machine disturb numerator and denominator alike.

    python -m bench [--repeat N] [--precisions int8-dynamic,int8] [--work-dir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import json
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
        "--quick", action="store_true", help="skip the FCN-8s sections (DeepLab pipeline only)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
    from bench.machine import cpu_flags, cpu_name, fcn8s_flops, matmul_gflops

    flags = cpu_flags()
    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores")
    print("extensions: " + " ".join(f"{f}={'yes' if v else 'no'}" for f, v in flags.items()))
    ceiling = {
        "numpy fp32": matmul_gflops("numpy", repeat=5 * args.repeat),
        "tensorflow fp32": matmul_gflops("tensorflow", repeat=5 * args.repeat),
        "tensorflow bf16": matmul_gflops("tensorflow", "bfloat16", repeat=args.repeat),
    }
    for name, rate in ceiling.items():
        print(f"matmul {name:<16} {rate:8.1f} GFLOP/s")
    if not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        print(
            "no AVX512-BF16/AMX: bfloat16 runs as converted float32 arithmetic (less memory "
            "traffic, no more FLOP/s), so it cannot beat the best float32 GEMM"
        )

    _section("start-up")
    print(f"stickerbot --help: {_help_seconds(args.repeat) * 1000:.0f} ms (median)")
    photo_files = _photo_files(work, samples)
    _report_worker("deeplab", ["--model", args.model], photo_files)

    if not args.quick:
        fcn = _fcn8s_sections(args, work, small, deeplab, precisions, ceiling, fcn8s_flops)
        _report_worker(
            "fcn8s fp32", ["--model", "fcn8s", "--weights", str(fcn["weights"])], photo_files
        )
        for precision in precisions:
            _report_worker(
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
    ceiling: dict[str, float],
    fcn8s_flops: Callable[[int, int], dict[str, float]],
) -> dict[str, Any]:
    from bench.fitted import fitted_fcn8s
    from bench.machine import best_seconds, matmul_gflops
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
    fast = {p: seg for p, seg in lite.items() if p != FP32}

    flops = fcn8s_flops(*square)
    total = sum(flops.values())
    top = sorted(flops.items(), key=lambda item: item[1], reverse=True)[:3]
    print(
        f"FLOPs: {total / 1e9:.1f} G ("
        + ", ".join(f"{name} {value / 1e9:.1f} G" for name, value in top)
        + ")"
    )
    # Interleaved, best of --repeat: a burst from another process hits one sample, not all.
    photo = small.get("skimage:astronaut")
    if photo is None or photo.shape[:2] != square:
        photo = np.random.default_rng(0).integers(0, 256, (*square, 3), np.uint8)
    rate = max(ceiling["numpy fp32"], ceiling["tensorflow fp32"])
    engines: dict[str, Callable[[], object]] = {
        "keras fp32": lambda: fp32.predict(photo),
        # The same model through its plain Keras layers (no segmentation.kernels): what the
        # faster inference equivalents buy, measured in this run.
        "keras fp32 plain layers": _plain_keras(model, photo),
    }
    for precision, seg in lite.items():
        engines[f"tflite {precision}"] = functools.partial(seg.predict, photo)
    times = {name: float("inf") for name in engines}
    for _ in range(args.repeat):
        for name, run in engines.items():
            times[name] = min(times[name], best_seconds(run, 1))
        rate = max(rate, matmul_gflops("numpy", repeat=2))
    bound = total / (rate * 1e9)
    print(f"FLOP-bound time at {rate:.0f} GFLOP/s (best matmul of the run): {bound:.2f} s")
    print(f"{'engine':<24} {'predict s':>9} {'x bound':>8} {'vs keras fp32':>14}")
    for name, seconds in times.items():
        print(
            f"{name:<24} {seconds:9.2f} {seconds / bound:7.2f}x "
            f"{times['keras fp32'] / seconds:13.2f}x"
        )

    if fast:
        print("\nargmax agreement with fp32 (same weights), share of pixels per photo")
        print(f"{'photo':<28} " + " ".join(f"{p:>13}" for p in fast))
        agreement: dict[str, list[float]] = {p: [] for p in fast}
        for name, rgb in small.items():
            reference = fp32.predict(rgb).argmax(-1)
            row = []
            for precision, seg in fast.items():
                agree = float((seg.predict(rgb).argmax(-1) == reference).mean())
                agreement[precision].append(agree)
                row.append(agree)
            print(f"{name:<28} " + " ".join(f"{a:13.4f}" for a in row))
        print(
            f"{'min / median':<28} "
            + " ".join(f"{min(v):6.4f}/{statistics.median(v):6.4f}" for v in agreement.values())
        )
    # The exports' interpreters hold their packed weights (GBs for fp32): free them before
    # the pipeline runs, which measures the Keras fp32 model alone.
    lite.clear()
    fast.clear()
    gc.collect()
    return {"segmenter": fp32, "weights": weights}


def _plain_keras(model: Any, photo: np.ndarray) -> Callable[[], object]:
    """``model``'s softmax through its own Keras layers, as one compiled graph."""
    import tensorflow as tf

    from segmentation.fcn8s import preprocess

    batch = preprocess(photo[np.newaxis])
    run = tf.function(lambda x: tf.nn.softmax(model(x, training=False), axis=-1))
    return lambda: np.asarray(run(batch)[0])


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


def _report_worker(label: str, model_args: list[str], photo_files: Sequence[Path]) -> None:
    """Cold start to ready, stickers/s and peak RSS of a fresh worker process."""
    launched = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "bench.worker", *model_args, *map(str, photo_files)],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        print(f"worker {label}: failed ({result.stderr.strip().splitlines()[-1:]})")
        return
    report = json.loads(lines[-1])
    print(
        f"worker {label:<20} cold start to ready {report['ready_at'] - launched:5.1f} s, "
        f"{report['stickers_per_s']:5.2f} stickers/s sequential, "
        f"peak RSS {report['peak_rss_mb']:6.0f} MiB"
    )


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
