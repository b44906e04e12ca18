"""The object zoom pass on real photos with ground truth: ``python -m bench.quality_zoom``.

Every object of :func:`bench.quality.photos` is cut out as in ``python -m bench.quality``
(the pipeline's own stages, the class is the target), with the plain pass's probabilities
and with the zoom pass (:mod:`segmentation.zoom`) fused in, for every setting of
:data:`GEOMETRY_GRID` (window: margin, zoom limit; one more network pass per object and
setting, cached) x :data:`FUSION_GRID` (band width, share of the zoomed view), each with the
CRF off and the tuned preset (its edge band included), soft edge. "Before" is today's
reference of issue 10: no zoom, seed CRF, hard edge.

The configuration (zoom setting x CRF column) is chosen 2-fold over photos, as
``bench.quality_tta`` chooses TTA: on one half by the mean of the relative SAD and MSE
changes against before (boundary F@2px not lower), reported on the other half, then swapped.
Held out, it also reports the CRF target both ways: (a) the CRF on vs off on top of the
chosen zoom, (b) the whole refinement (zoom + CRF) vs neither.

``--timing`` times the model stage per photo (plain pass; plain + zoom pass + fusion),
interleaved round after round (medians of the ratios). ``--tune-crf PRESET`` also runs
``bench.quality``'s 2-fold CRF search (:func:`bench.quality.tune`) on the probabilities of
the zoom preset ``PRESET`` (the pipeline's :func:`segmentation.zoom.zoom_probabilities`):
could a CRF preset keyed on the zoom keep the CRF target on top of it? Prints the CPU;
``--json`` writes every figure.

    python -m bench.quality_zoom [--json out.json] [--timing] [--quick] [--tune-crf view]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

# The zoom window's settings (the network runs on each object's view once per setting), in
# families chosen 2-fold each on its own: one view of the network's input (<= 2 passes per
# photo), a view in up to two input windows along its longer side (<= 3 passes). Measured
# and not kept (README): max_zoom 2 (one view), a view of up to 800 px in 2 x 2 windows
# (<= 5 passes), min_zoom 1 (a second view of an object filling the photo), a mirrored view.
GEOMETRY_GRID: Final[dict[str, list[dict[str, Any]]]] = {
    "one view": [{"margin": 0.25, "max_zoom": 3.0}],
    "2 windows": [{"margin": 0.15, "max_zoom": 3.0, "max_view": 898, "max_view_across": 513}],
}
# How the zoomed view is fused (no network pass): band half-width in inference pixels
# (inf: the whole window, an ablation, never chosen), the zoomed view's share within it. The
# area guard is a safety rail, fixed at 0.8 like the CRF's, not searched: without it (one
# run, README) SAD and MSE were the same and the cafeteria chair lost its legs (-0.098 IoU).
FUSION_GRID: Final[dict[str, Sequence[float]]] = {
    "band_px": (8.0, 16.0, math.inf),
    "weight": (0.5, 1.0),
    "min_area_ratio": (0.8,),
}
QUICK_GEOMETRY: Final = {"one view": GEOMETRY_GRID["one view"]}
COLUMNS: Final = ("off", "tuned")
ALLOWED_DROP: Final = 0.03
TIMING_ROUNDS: Final = 3


def _grid(space: dict[str, Sequence[float]]) -> list[dict[str, float]]:
    names = list(space)
    return [dict(zip(names, v, strict=True)) for v in itertools.product(*space.values())]


def label(options: Any) -> str:
    """A short name of a zoom setting."""
    if not options.enabled:
        return "none"
    from segmentation.options import describe_zoom

    if describe_zoom(options) != "custom":
        return describe_zoom(options)
    flip = " flip" if options.flip else ""
    view = f" v{options.max_view}" if options.max_view else ""
    view += f"x{options.max_view_across}" if options.max_view_across else ""
    view += f" min{options.min_zoom:g}" if options.min_zoom != 1.2 else ""
    view += f" guard{options.min_area_ratio:g}" if options.min_area_ratio else ""
    return (
        f"m{options.margin:g} z{options.max_zoom:g}{flip}{view} b{options.band_px:g} "
        f"w{options.weight:g}"
    )


def zoomed_views(
    items: Sequence[Any], rgbs: dict[str, np.ndarray], segmenter: Any, geometry: dict[str, Any]
) -> list[tuple[Any, Any]]:
    """Per object: the zoom window and the view's class probabilities at the window's size."""
    from bench import quality
    from segmentation import crf, zoom
    from segmentation.options import ZoomOptions

    options = ZoomOptions(enabled=True, **geometry)  # type: ignore[arg-type]
    side = zoom.view_limits(segmenter, options)
    views = []
    for item in items:
        target = crf.target_probability(item.probs, item.cls) > zoom.THRESHOLD
        base = zoom.plain_scale(segmenter, (item.probs.shape[0], item.probs.shape[1]))
        window = zoom.zoom_window(target, side, options, base)
        if window is None:
            views.append((None, None))
            continue
        shape = (item.probs.shape[0], item.probs.shape[1])
        probs = zoom.view_probabilities(segmenter, rgbs[item.photo], shape, window, options)
        views.append((window, probs))
        print(
            f"  {item.photo:<26} {quality._class_name(item.cls):<12} window "
            f"{window.bottom - window.top}x{window.right - window.left} zoom {window.zoom:.2f}",
            flush=True,
        )
    return views


def scores(item: Any, params: Any) -> dict[str, float]:
    from bench import quality

    prob = quality.object_probability(item, params)
    result = quality.mask_scores(item, prob)
    alpha = quality.alpha_scores(item, prob)
    result.update(sad=alpha["soft_sad"], mse=alpha["soft_mse"])
    return result


def evaluate(items: Sequence[Any], segmenter_name: str) -> list[dict[str, Any]]:
    """Per object: mask and soft-alpha scores with the CRF off and tuned."""
    from bench import quality

    rows = []
    for item in items:
        row: dict[str, Any] = {"photo": item.photo, "class": quality._class_name(item.cls)}
        for column in COLUMNS:
            params = quality.column_params(column, segmenter_name)
            row.update({f"{column}_{k}": v for k, v in scores(item, params).items()})
        rows.append(row)
    return rows


def before_rows(items: Sequence[Any], segmenter_name: str) -> list[dict[str, float]]:
    """Per object: today's reference (seed CRF, hard edge)."""
    from bench import quality

    rows = []
    for item in items:
        prob = quality.object_probability(item, quality.column_params("seed", segmenter_name))
        alpha = quality.alpha_scores(item, prob)
        rows.append(
            {
                "sad": alpha["hard_sad"],
                "mse": alpha["hard_mse"],
                "bf2": quality.mask_scores(item, prob)["bf2"],
            }
        )
    return rows


def mean(rows: Sequence[dict[str, Any]], key: str, where: Sequence[int] | None = None) -> float:
    chosen = rows if where is None else [rows[i] for i in where]
    return float(np.mean([r[key] for r in chosen]))


def print_variants(
    results: dict[str, list[dict[str, Any]]], before: list[dict[str, float]]
) -> None:
    b_sad, b_mse = mean(before, "sad"), mean(before, "mse")
    print(
        f"\nmeans over {len(before)} objects (before: seed CRF, hard edge: SAD {b_sad:.3f}, "
        f"MSE {b_mse:.4f}, BF@2 {mean(before, 'bf2'):.3f})"
    )
    print(
        f"{'zoom':<24} {'CRF':<6} {'IoU':>6} {'BF@2':>6} {'BIoU':>6} {'SAD':>6} {'MSE':>7} "
        f"{'dSAD':>7} {'dMSE':>7} {'vs off':>8} {'worst':>7} {'CRF gain':>8} {'worst':>7}"
    )
    plain_off = [r["off_iou"] for r in results["none"]]
    for name, rows in results.items():
        for column in COLUMNS:
            deltas = [r[f"{column}_iou"] - o for r, o in zip(rows, plain_off, strict=True)]
            gains = [r[f"{column}_iou"] - r["off_iou"] for r in rows]
            print(
                f"{name:<24} {column:<6} {mean(rows, column + '_iou'):6.3f} "
                f"{mean(rows, column + '_bf2'):6.3f} {mean(rows, column + '_biou'):6.3f} "
                f"{mean(rows, column + '_sad'):6.3f} {mean(rows, column + '_mse'):7.4f} "
                f"{mean(rows, column + '_sad') / b_sad - 1:+7.1%} "
                f"{mean(rows, column + '_mse') / b_mse - 1:+7.1%} "
                f"{np.mean(deltas):+8.4f} {min(deltas):+7.3f} {np.mean(gains):+8.4f} "
                f"{min(gains):+7.3f}"
            )


def options_of(name: str) -> str:
    """``"ablation"`` for a setting that fuses the whole window, else ``"candidate"``."""
    return "ablation" if " binf " in f"{name} " else "candidate"


def select(
    results: dict[str, list[dict[str, Any]]],
    before: list[dict[str, float]],
    candidates: Sequence[str] | None = None,
) -> dict[str, Any]:
    """2-fold choice of (zoom setting among ``candidates``, default all, CRF column) over
    photo halves; held-out figures."""
    rows0 = results["none"]
    names = sorted({r["photo"] for r in rows0})
    folds = [set(names[0::2]), set(names[1::2])]
    # The whole window (band inf) is the ablation that shows what the band is for, not a
    # candidate: the zoomed view's answer far from the edge is what the band keeps out.
    names_in = list(results) if candidates is None else list(candidates)
    configs = [(n, c) for n in names_in for c in COLUMNS if options_of(n) != "ablation"]
    held: dict[str, list[float]] = {
        k: []
        for k in (
            "sad",
            "mse",
            "bf2",
            "biou",
            "iou",
            "iou_crf_off",
            "plain_off_iou",
            "before_sad",
            "before_mse",
            "before_bf2",
        )
    }
    report: dict[str, Any] = {"folds": []}
    for fold, tune_on in enumerate(folds):
        inside = [i for i, r in enumerate(rows0) if r["photo"] in tune_on]
        outside = [i for i, r in enumerate(rows0) if r["photo"] not in tune_on]
        ref_sad, ref_mse = mean(before, "sad", inside), mean(before, "mse", inside)
        ref_bf2 = mean(before, "bf2", inside)

        def score(
            config: tuple[str, str],
            inside: list[int] = inside,
            ref_sad: float = ref_sad,
            ref_mse: float = ref_mse,
            ref_bf2: float = ref_bf2,
        ) -> float:
            rows = results[config[0]]
            c = config[1]
            penalty = 1.0 if mean(rows, f"{c}_bf2", inside) < ref_bf2 else 0.0
            return (
                -(
                    mean(rows, f"{c}_sad", inside) / ref_sad
                    + mean(rows, f"{c}_mse", inside) / ref_mse
                )
                / 2
                - penalty
            )

        name, column = max(configs, key=score)
        rows = results[name]
        for i in outside:
            held["sad"].append(rows[i][f"{column}_sad"])
            held["mse"].append(rows[i][f"{column}_mse"])
            held["bf2"].append(rows[i][f"{column}_bf2"])
            held["biou"].append(rows[i][f"{column}_biou"])
            held["iou"].append(rows[i][f"{column}_iou"])
            held["iou_crf_off"].append(rows[i]["off_iou"])
            held["plain_off_iou"].append(rows0[i]["off_iou"])
            held["before_sad"].append(before[i]["sad"])
            held["before_mse"].append(before[i]["mse"])
            held["before_bf2"].append(before[i]["bf2"])
        t_sad = mean(rows, f"{column}_sad", outside)
        b_sad = mean(before, "sad", outside)
        t_mse = mean(rows, f"{column}_mse", outside)
        b_mse = mean(before, "mse", outside)
        report["folds"].append(
            {
                "tuned_on": sorted(tune_on),
                "zoom": name,
                "crf": column,
                "held_out_sad": t_sad,
                "held_out_mse": t_mse,
                "before_sad": b_sad,
                "before_mse": b_mse,
            }
        )
        print(
            f"fold {fold + 1}: chose zoom {name}, CRF {column}; held out {len(outside)} objects: "
            f"SAD {b_sad:.3f} -> {t_sad:.3f} ({t_sad / b_sad - 1:+.1%}), MSE {b_mse:.4f} -> "
            f"{t_mse:.4f} ({t_mse / b_mse - 1:+.1%})"
        )
    m = {k: float(np.mean(v)) for k, v in held.items()}
    crf_gain = [a - b for a, b in zip(held["iou"], held["iou_crf_off"], strict=True)]
    all_gain = [a - b for a, b in zip(held["iou"], held["plain_off_iou"], strict=True)]
    m.update(
        crf_gain=float(np.mean(crf_gain)),
        crf_worst=float(min(crf_gain)),
        refinement_gain=float(np.mean(all_gain)),
        refinement_worst=float(min(all_gain)),
    )
    report["held_out"] = m
    print(
        f"held out, both folds ({len(held['sad'])} objects): SAD {m['before_sad']:.3f} -> "
        f"{m['sad']:.3f} ({m['sad'] / m['before_sad'] - 1:+.1%}), MSE {m['before_mse']:.4f} -> "
        f"{m['mse']:.4f} ({m['mse'] / m['before_mse'] - 1:+.1%}), BF@2 {m['before_bf2']:.3f} -> "
        f"{m['bf2']:.3f}, BIoU {m['biou']:.3f}, IoU {m['iou']:.3f}\n"
        f"  (a) CRF on vs off with the same zoom: IoU {m['crf_gain']:+.4f}, worst "
        f"{m['crf_worst']:+.3f}; (b) zoom + CRF vs neither: {m['refinement_gain']:+.4f}, "
        f"worst {m['refinement_worst']:+.3f}"
    )
    return report


class Counting:
    """A segmenter that counts the network passes of another (``input_size`` passed on)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.classes = inner.name, inner.classes
        self.input_size = getattr(inner, "input_size", None)
        self.calls = 0

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        result: np.ndarray = self.inner.predict(rgb)
        return result


def timing(photo_list: Sequence[Any], segmenter: Any, options: Any) -> dict[str, float]:
    """The pipeline's model stage (``pipeline.predict``'s "model" time: the plain pass, the
    target, and with ``options`` the zoom pass) with the zoom vs without, per photo, as a
    ratio, interleaved round after round on the same photos; the medians, and the network
    passes per photo."""
    from segmentation.errors import NoObjectFound
    from segmentation.options import StickerOptions
    from segmentation.pipeline import predict

    counting = Counting(segmenter)
    plain, zoomed = StickerOptions(), StickerOptions(zoom=options)
    ratios: list[float] = []
    passes: list[int] = []
    for _ in range(TIMING_ROUNDS):
        for photo in photo_list:
            try:
                base = predict(photo.data, counting, plain).timings_ms["model"]
            except NoObjectFound:  # the network finds no VOC class in it: no target
                continue
            counting.calls = 0
            ratios.append(predict(photo.data, counting, zoomed).timings_ms["model"] / base)
            passes.append(counting.calls)
    result = {"time_ratio": statistics.median(ratios), "passes": float(np.mean(passes))}
    print(
        f"\nmodel stage with zoom {label(options)} vs without ({len(photo_list)} photos x "
        f"{TIMING_ROUNDS} rounds, interleaved; median): x{result['time_ratio']:.2f}, "
        f"{result['passes']:.2f} network passes per photo (max {max(passes)})"
    )
    return result


def tune_crf(
    items: Sequence[Any], rgbs: dict[str, np.ndarray], segmenter: Any, preset: str
) -> dict[str, Any]:
    """:func:`bench.quality.tune` on the objects' probabilities after the zoom ``preset``
    (its "CRF off" is the zoom without the CRF: the CRF target's (a))."""
    from bench import quality
    from segmentation.options import parse_zoom
    from segmentation.zoom import zoom_probabilities

    options = parse_zoom(preset)
    zoomed = [
        dataclasses.replace(
            item,
            probs=zoom_probabilities(segmenter, rgbs[item.photo], item.probs, item.cls, options)[0],
        )
        for item in items
    ]
    print(f"\nCRF search on zoom {preset}")
    return quality.tune(zoomed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_zoom", description=(__doc__ or "").split("\n")[0]
    )
    from bench import quality

    parser.add_argument("--model", default=str(quality.DEFAULT_MODEL), help="the .tflite model")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--timing", action="store_true", help="time the zoom pass")
    parser.add_argument("--quick", action="store_true", help="one window setting only")
    parser.add_argument(
        "--tune-crf", metavar="PRESET", help="run the 2-fold CRF search on a zoom preset's output"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from bench.machine import cpu_flags, cpu_name
    from segmentation.image import load_image
    from segmentation.options import ZoomOptions
    from segmentation.segmenter import load_segmenter
    from segmentation.zoom import fuse_object

    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores")
    print("extensions: " + " ".join(f"{f}={'yes' if v else 'no'}" for f, v in cpu_flags().items()))
    photo_list = list(quality.photos())
    if not photo_list:
        print(f"no photos with ground truth under {quality.SHARED}", file=sys.stderr)
        return 1
    segmenter = load_segmenter(args.model)
    items = quality.prepare(photo_list, segmenter)
    rgbs = {p.name: load_image(p.data) for p in photo_list}
    print(f"{len(items)} objects in {len(photo_list)} photos, model {segmenter.name}", flush=True)
    before = before_rows(items, segmenter.name)
    results: dict[str, list[dict[str, Any]]] = {"none": evaluate(items, segmenter.name)}
    settings: dict[str, Any] = {"none": dataclasses.asdict(ZoomOptions())}

    families: dict[str, list[str]] = {}
    chosen_grid = QUICK_GEOMETRY if args.quick else GEOMETRY_GRID
    for family, geometry in ((f, g) for f, gs in chosen_grid.items() for g in gs):
        views = zoomed_views(items, rgbs, segmenter, geometry)
        for fusion in _grid(FUSION_GRID):
            options = ZoomOptions(enabled=True, **geometry, **fusion)  # type: ignore[arg-type]
            zoomed_items = []
            for item, (window, probs) in zip(items, views, strict=True):
                if window is not None:
                    fused = fuse_object(item.probs, probs, item.cls, window, options)
                    item = dataclasses.replace(item, probs=fused)
                zoomed_items.append(item)
            name = label(options)
            families.setdefault(family, []).append(name)
            results[name] = evaluate(zoomed_items, segmenter.name)
            settings[name] = dataclasses.asdict(options)
            rows = results[name]
            print(
                f"  {name}: tuned SAD {mean(rows, 'tuned_sad'):.3f} MSE "
                f"{mean(rows, 'tuned_mse'):.4f} IoU {mean(rows, 'tuned_iou'):.3f}; off SAD "
                f"{mean(rows, 'off_sad'):.3f} MSE {mean(rows, 'off_mse'):.4f} IoU "
                f"{mean(rows, 'off_iou'):.3f}",
                flush=True,
            )
    print_variants(results, before)
    report: dict[str, Any] = {
        "model": segmenter.name,
        "settings": settings,
        "objects": results,
        "before": before,
    }
    print("\nall settings and none:")
    report["selection"] = {"all": select(results, before)}
    for family, names in families.items():
        print(f"\n{family} only:")
        report["selection"][family] = select(results, before, names)
    if args.timing:
        from segmentation.options import ZOOM_PRESETS

        report["timing"] = {
            name: timing(photo_list, segmenter, options)
            for name, options in ZOOM_PRESETS.items()
            if options.enabled
        }
    if args.tune_crf:
        report["tune"] = tune_crf(items, rgbs, segmenter, args.tune_crf)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
