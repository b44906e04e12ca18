"""Benchmark of the sticker pipeline on real photos.

Prints, in one run: per-stage medians of :func:`segmentation.pipeline.make_sticker` over a
fixed set of real photos (``skimage.data`` and ``../shared/fixtures``), and our CRF (two
labels, object region only) against the seed's full-image 21-label CRF on the same inputs:
the time ratio and the IoU between their masks. Timings are ratios within this run; absolute
numbers depend on the machine.

    python -m bench [--model PATH.tflite|fcn8s] [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="fcn8s or a .tflite path")
    parser.add_argument("--repeat", type=int, default=5, help="runs per photo (default 5)")
    args = parser.parse_args(argv)

    from segmentation import crf
    from segmentation.classes import class_index
    from segmentation.errors import NoObjectFound
    from segmentation.image import load_image, resize_longer_side
    from segmentation.options import StickerOptions
    from segmentation.pipeline import (
        STAGES,
        choose_target,
        detected_classes,
        make_sticker,
        target_probability,
    )
    from segmentation.segmenter import load_segmenter

    start = time.perf_counter()
    segmenter = load_segmenter(args.model)
    segmenter.warmup()
    print(
        f"model {segmenter.name} ({segmenter.backend}, {segmenter.device}): "
        f"ready in {time.perf_counter() - start:.2f} s"
    )

    samples = list(photos())
    stage_ms: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    print(f"\n{'photo':<28} {'target':<10} " + " ".join(f"{s:>8}" for s in (*STAGES, "total")))
    for name, data in samples:
        runs: list[dict[str, float]] = []
        target = "-"
        for _ in range(args.repeat):
            try:
                sticker = make_sticker(data, segmenter, StickerOptions())
            except NoObjectFound:
                break
            runs.append(sticker.timings_ms)
            target = sticker.target
        if not runs:
            print(f"{name:<28} {'(none)':<10}")
            continue
        medians = {k: statistics.median(r[k] for r in runs) for k in stage_ms}
        for key, value in medians.items():
            stage_ms[key].append(value)
        print(f"{name:<28} {target:<10} " + " ".join(f"{medians[k]:8.1f}" for k in stage_ms))
    print(
        f"{'median over photos (ms)':<39} "
        + " ".join(f"{statistics.median(v):8.1f}" for v in stage_ms.values())
    )

    print("\nCRF: ours (2 labels, object region) vs the seed's (21 labels, whole image)")
    print(f"{'photo':<28} {'ours ms':>8} {'seed ms':>8} {'speed-up':>8} {'mask IoU':>8}")
    ratios, ious = [], []
    for name, data in samples:
        small = resize_longer_side(load_image(data), StickerOptions().inference_side)
        probs = segmenter.predict(small)
        detected = detected_classes(probs.argmax(-1), StickerOptions().min_detected_share)
        try:
            target = class_index(choose_target("auto", detected))
        except NoObjectFound:
            continue
        two_label = target_probability(probs, target)
        ours_ms, ours = _best_of(args.repeat, crf.refine, small, two_label)
        seed_ms, labels = _best_of(args.repeat, crf.refine_full, small, probs)
        ours, seed = ours > 0.5, labels == target
        iou = float((ours & seed).sum() / max(1, (ours | seed).sum()))
        ratios.append(seed_ms / ours_ms)
        ious.append(iou)
        print(f"{name:<28} {ours_ms:8.1f} {seed_ms:8.1f} {seed_ms / ours_ms:7.1f}x {iou:8.3f}")
    if ratios:
        print(
            f"{'median':<28} {'':>8} {'':>8} {statistics.median(ratios):7.1f}x "
            f"{statistics.median(ious):8.3f}   (min IoU {min(ious):.3f})"
        )
    return 0


def _best_of(
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


if __name__ == "__main__":
    sys.exit(main())
