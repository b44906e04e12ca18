"""Test-time augmentation in ``python -m bench.quality --tta SPEC ...`` (kept apart from the
CRF benchmark so both evolve separately).

Each ``SPEC`` (:func:`segmentation.tta.parse_tta`: ``flip``, ``1,1.5``, ``1,1.5,2,flip``...;
the extra token ``photo`` adds a view of the photo at its own resolution, tiled into the
model's input windows) wraps the model in :class:`segmentation.tta.TtaSegmenter`; the objects
are cut out and scored with every CRF column and both edges, as without TTA. The "before"
figure stays today's pipeline: no TTA, seed CRF, hard edge.

The configuration (TTA spec x CRF column x edge) is chosen 2-fold over photos, as ``--tune``
chooses the CRF: on one half by the mean of the relative SAD and MSE changes against before
(boundary F@2px not lower), reported on the other half, then swapped.

``--tta-timing`` also times the model per photo for every spec against one plain pass,
interleaved round after round on the same photos (medians of the ratios).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

# Timing: rounds over the photos, every spec and the plain pass in turn within a round.
TIMING_ROUNDS: Final = 3
TIMING_PHOTOS: Final = 4
PHOTO_TOKEN: Final = "photo"


def split_spec(spec: str) -> tuple[str, bool]:
    """``spec`` without the ``photo`` token, and whether it had it."""
    tokens = [t.strip() for t in spec.split(",")]
    rest = [t for t in tokens if t.lower() != PHOTO_TOKEN]
    return ",".join(rest) if rest else "off", len(rest) != len(tokens)


class PhotoViewSegmenter:
    """The TTA views of the inference copy plus the full photo, tiled (bench only: the
    pipeline hands the segmenter the inference copy alone)."""

    def __init__(self, inner: Any, spec: str) -> None:
        from segmentation.tta import TtaSegmenter, native_input_size, parse_tta

        options = parse_tta(split_spec(spec)[0])
        self.inner = inner
        self.tta = TtaSegmenter(inner, options) if options.enabled else None
        self.flip = options.flip
        self.overlap = options.tile_overlap
        self.input_size = native_input_size(inner) or (513, 513)
        self.name = inner.name
        self.views = (len(options.scales) if options.enabled else 1) * (2 if self.flip else 1)

    def predict_with_photo(self, small: np.ndarray, photo: np.ndarray) -> np.ndarray:
        from segmentation.backends.probabilities import normalised, resize_probabilities
        from segmentation.tta import predict_tiled

        base = (self.tta or self.inner).predict(small)
        h, w = small.shape[:2]
        total = base * np.float32(self.views)
        count = self.views
        for mirror in (False, True) if self.flip else (False,):
            view = np.ascontiguousarray(photo[:, ::-1]) if mirror else photo
            probs = predict_tiled(self.inner, view, self.input_size, self.overlap)
            if mirror:
                probs = probs[:, ::-1]
            total = total + resize_probabilities(np.ascontiguousarray(probs), h, w)
            count += 1
        return normalised(total / np.float32(count))


def prepare_tta(photo_list: Sequence[Any], segmenter: Any, spec: str) -> list[Any]:
    """:func:`bench.quality.prepare` with the model wrapped as ``spec`` asks."""
    from bench import quality
    from segmentation.image import load_image
    from segmentation.tta import TtaSegmenter, parse_tta

    base, with_photo = split_spec(spec)
    if not with_photo:
        return quality.prepare(photo_list, TtaSegmenter(segmenter, parse_tta(base)))
    wrapper = PhotoViewSegmenter(segmenter, spec)
    photos = {photo.name: load_image(photo.data) for photo in photo_list}

    class _Bound:  # prepare() calls predict(small): bind the photo being prepared
        current = ""

        def predict(self, small: np.ndarray) -> np.ndarray:
            return wrapper.predict_with_photo(small, photos[self.current])

    bound = _Bound()
    items: list[Any] = []
    for photo in photo_list:
        bound.current = photo.name
        items.extend(quality.prepare([photo], bound))
    return items


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k not in ("photo", "class")]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


CONFIG_KEYS: Final = ("iou", "bf2", "biou", "sad", "mse")


def config_metrics(means: dict[str, float], column: str, edge: str) -> dict[str, float]:
    return {
        "iou": means[f"{column}_iou"],
        "bf2": means[f"{column}_bf2"],
        "biou": means[f"{column}_biou"],
        "sad": means[f"{column}_{edge}_sad"],
        "mse": means[f"{column}_{edge}_mse"],
    }


def print_configs(results: dict[str, list[dict[str, Any]]]) -> None:
    """Means per TTA spec x CRF column x edge, and the change against before."""
    from bench.quality import COLUMNS, EDGES

    before = config_metrics(summary(results["off"]), "seed", "hard")
    print("\nTTA: means over objects (before = no TTA, seed CRF, hard edge)")
    print(
        f"{'TTA':<22} {'CRF':<6} {'edge':<5} {'IoU':>6} {'BF@2':>6} {'BIoU':>6} "
        f"{'SAD':>6} {'MSE':>7} {'dSAD':>7} {'dMSE':>7}"
    )
    for spec, rows in results.items():
        means = summary(rows)
        for column in COLUMNS:
            for edge in EDGES:
                m = config_metrics(means, column, edge)
                print(
                    f"{spec:<22} {column:<6} {edge:<5} {m['iou']:6.3f} {m['bf2']:6.3f} "
                    f"{m['biou']:6.3f} {m['sad']:6.3f} {m['mse']:7.4f} "
                    f"{m['sad'] / before['sad'] - 1:+7.1%} {m['mse'] / before['mse'] - 1:+7.1%}"
                )


def select(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """2-fold choice of (spec, CRF column, edge) by photo halves; held-out figures."""
    from bench.quality import COLUMNS, EDGES

    rows0 = results["off"]
    names = sorted({r["photo"] for r in rows0})
    folds = [set(names[0::2]), set(names[1::2])]
    configs = [(s, c, e) for s in results for c in COLUMNS for e in EDGES]
    report: dict[str, Any] = {"folds": []}
    held: dict[str, list[float]] = {"before_sad": [], "before_mse": [], "before_bf2": []}
    held.update({"sad": [], "mse": [], "bf2": [], "iou": [], "off_iou": []})

    def part(spec: str, names_in: set[str]) -> list[dict[str, Any]]:
        return [r for r in results[spec] if r["photo"] in names_in]

    for fold, tune_on in enumerate(folds):
        test_on = set(names) - tune_on
        ref = config_metrics(summary(part("off", tune_on)), "seed", "hard")

        def score(config: tuple[str, str, str], ref: dict[str, float] = ref) -> float:
            spec, column, edge = config
            m = config_metrics(summary(part(spec, tune_on)), column, edge)  # noqa: B023
            penalty = 1.0 if m["bf2"] < ref["bf2"] else 0.0
            return -(m["sad"] / ref["sad"] + m["mse"] / ref["mse"]) / 2 - penalty

        spec, column, edge = max(configs, key=score)
        test = part(spec, test_on)
        base = part("off", test_on)
        held["sad"] += [r[f"{column}_{edge}_sad"] for r in test]
        held["mse"] += [r[f"{column}_{edge}_mse"] for r in test]
        held["bf2"] += [r[f"{column}_bf2"] for r in test]
        held["iou"] += [r[f"{column}_iou"] for r in test]
        held["off_iou"] += [r["off_iou"] for r in test]
        held["before_sad"] += [r["seed_hard_sad"] for r in base]
        held["before_mse"] += [r["seed_hard_mse"] for r in base]
        held["before_bf2"] += [r["seed_bf2"] for r in base]
        t = config_metrics(summary(test), column, edge)
        b = config_metrics(summary(base), "seed", "hard")
        entry = {
            "tuned_on": sorted(tune_on),
            "choice": {"tta": spec, "crf": column, "edge": edge},
            "held_out": t,
            "held_out_before": b,
        }
        report["folds"].append(entry)
        print(
            f"fold {fold + 1}: chose TTA {spec}, CRF {column}, {edge} edge; held out "
            f"{len(test)} objects: SAD {b['sad']:.3f} -> {t['sad']:.3f} "
            f"({t['sad'] / b['sad'] - 1:+.1%}), MSE {b['mse']:.4f} -> {t['mse']:.4f} "
            f"({t['mse'] / b['mse'] - 1:+.1%}), BF@2 {b['bf2']:.3f} -> {t['bf2']:.3f}"
        )
    means = {k: float(np.mean(v)) for k, v in held.items()}
    report["held_out"] = means
    print(
        f"held out, both folds ({len(held['sad'])} objects): SAD {means['before_sad']:.3f} -> "
        f"{means['sad']:.3f} ({means['sad'] / means['before_sad'] - 1:+.1%}), MSE "
        f"{means['before_mse']:.4f} -> {means['mse']:.4f} "
        f"({means['mse'] / means['before_mse'] - 1:+.1%}), BF@2 {means['before_bf2']:.3f} -> "
        f"{means['bf2']:.3f}, IoU {means['iou']:.3f} (CRF off, no TTA {means['off_iou']:.3f})"
    )
    return report


def timing(photo_list: Sequence[Any], segmenter: Any, specs: Sequence[str]) -> dict[str, Any]:
    """Model time per photo for every spec as a multiple of one plain pass, interleaved."""
    from segmentation.image import load_image, resize_longer_side
    from segmentation.options import StickerOptions
    from segmentation.tta import TtaSegmenter, parse_tta

    side = StickerOptions().inference_side
    chosen = list(photo_list)[:: max(1, len(photo_list) // TIMING_PHOTOS)][:TIMING_PHOTOS]
    photos = [load_image(p.data) for p in chosen]
    smalls = [resize_longer_side(p, side) for p in photos]
    runners: dict[str, Any] = {"plain": lambda i: segmenter.predict(smalls[i])}
    passes: dict[str, float] = {"plain": 1.0}
    for spec in specs:
        base, with_photo = split_spec(spec)
        if with_photo:
            wrapper = PhotoViewSegmenter(segmenter, spec)
            runners[spec] = lambda i, w=wrapper: w.predict_with_photo(smalls[i], photos[i])
            passes[spec] = float("nan")
        else:
            tta = TtaSegmenter(segmenter, parse_tta(base))
            runners[spec] = lambda i, t=tta: t.predict(smalls[i])
            passes[spec] = float(np.mean([tta.passes(*s.shape[:2]) for s in smalls]))
    ratios: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(TIMING_ROUNDS):
        for i in range(len(smalls)):
            times = {}
            for name, run in runners.items():
                start = time.perf_counter()
                run(i)
                times[name] = time.perf_counter() - start
            for name in runners:
                ratios[name].append(times[name] / times["plain"])
    print(
        f"\nTTA model time per photo vs one plain pass ({len(smalls)} photos x "
        f"{TIMING_ROUNDS} rounds, interleaved; medians)"
    )
    report = {}
    for name in runners:
        median = statistics.median(ratios[name])
        report[name] = {"passes": passes[name], "time_ratio": median}
        print(f"  {name:<22} passes {passes[name]:5.1f}  time x{median:5.2f}")
    return report
