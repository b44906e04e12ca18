"""The console side of ``stickerbot make`` with several photos or a folder (the work itself
is :mod:`segmentation.batch`): one line per photo (or one JSON object per line with
``--json``) on stdout, a progress bar and the summary on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from segmentation import batch
from segmentation.batch import Result, Status
from segmentation.options import StickerOptions
from segmentation.pipeline import Sticker
from segmentation.segmenter import Segmenter

# Exit codes (as for one photo): the worst outcome of the run decides.
EXIT_OK = 0
EXIT_NO_OBJECT = 3
EXIT_BAD_IMAGE = 4
_SUMMARY = {Status.MADE: "made", Status.NO_OBJECT: "no object", Status.UNREADABLE: "unreadable"}


def sticker_report(sticker: Sticker, model: str) -> dict[str, Any]:
    """What ``--json`` says about a sticker (one photo, or each line of a batch)."""
    return {
        "target": sticker.target,
        "detected": {name: round(share, 4) for name, share in sticker.detected.items()},
        "coverage": round(sticker.coverage, 4),
        "crf": sticker.crf,
        "model": model,
        "timings_ms": {stage: round(ms, 1) for stage, ms in sticker.timings_ms.items()},
    }


def make_many(
    photos: Sequence[Path],
    outputs: Mapping[Path, Path],
    segmenter: Segmenter,
    options: StickerOptions,
    *,
    jobs: int,
    as_json: bool,
) -> int:
    """Make a sticker of every photo, writing ``outputs[photo]``; returns the exit code."""
    counts: Counter[Status] = Counter()
    start = time.perf_counter()
    progress = tqdm(
        total=len(photos),
        unit="photo",
        file=sys.stderr,
        disable=not sys.stderr.isatty() or len(photos) < 2,
        leave=False,
    )
    with progress:
        for result in batch.run(photos, segmenter, options, jobs=jobs):
            output = outputs[result.path]
            if result.sticker is not None:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(result.sticker.png)
            counts[result.status] += 1
            line = _json_line(result, output, segmenter.name) if as_json else _line(result, output)
            # Printed above the bar, which redraws below it.
            progress.write(line, file=sys.stdout)
            progress.update()
    elapsed = time.perf_counter() - start
    summary = ", ".join(f"{_SUMMARY[status]} {counts[status]}" for status in Status)
    rate = len(photos) / elapsed if elapsed > 0 else 0.0
    print(f"stickerbot: {summary} ({len(photos)} photos, {rate:.2f}/s)", file=sys.stderr)
    if counts[Status.UNREADABLE]:
        return EXIT_BAD_IMAGE
    return EXIT_NO_OBJECT if counts[Status.NO_OBJECT] else EXIT_OK


def _line(result: Result, output: Path) -> str:
    sticker = result.sticker
    if sticker is None:
        return f"{result.status.value:<10} {result.path}: {result.error}"
    return (
        f"{result.status.value:<10} {result.path} -> {output} "
        f"({sticker.target}, coverage {sticker.coverage:.1%})"
    )


def _json_line(result: Result, output: Path, model: str) -> str:
    report: dict[str, Any] = {"input": str(result.path), "status": result.status.value}
    if result.sticker is not None:
        report.update(sticker_report(result.sticker, model))
        report["outputs"] = {"png": str(output)}
    else:
        report["error"] = result.error
    return json.dumps(report)
