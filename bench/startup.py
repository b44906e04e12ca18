"""What a user feels besides the forward pass: a whole ``stickerbot make`` command and the
bot's model process (:mod:`bench.worker`), with a TFLite model before (TensorFlow's
interpreter) and after (LiteRT), in one run.

Every process runs under :mod:`bench.launch` (wall time from process start to exit, peak RSS
from ``getrusage`` of that process alone); the variants alternate, medians are reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

# The targets for a TFLite model (2-core shared machines of this workplace).
CLI_TARGET_S: Final = 1.5
MODEL_PROCESS_TARGET_MB: Final = 250.0

# The TFLite runtimes compared: TensorFlow's interpreter (before) and LiteRT (after).
VARIANTS: Final = {"before: tf.lite": "tensorflow", "after: LiteRT": "auto"}


def launched(command: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """``command``'s report from :mod:`bench.launch` and the lines it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.launch", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    lines = done.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1])
    return report, lines[:-1]


def stickerbot_command() -> list[str]:
    """The installed ``stickerbot`` script, else the same entry point through Python."""
    script = Path(sys.executable).with_name("stickerbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def cli_make(model: str, photo: Path, work: Path, repeat: int) -> None:
    """``stickerbot make PHOTO --model MODEL`` before and after, interleaved."""
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in VARIANTS}
    for _ in range(max(1, repeat)):
        for label, backend in VARIANTS.items():
            out = work / f"cli-{backend}.png"
            out.unlink(missing_ok=True)
            report, _ = launched(
                [*stickerbot_command(), "make", str(photo), "--model", model,
                 "--backend", backend, "-o", str(out)]
            )  # fmt: skip
            if report["returncode"] or not out.exists():
                print(f"stickerbot make ({label}): failed: {report.get('stderr', '')}")
                return
            runs[label].append(report)
    print(
        f"`stickerbot make {photo.name} --model {Path(model).name}`, process start to file "
        f"written, median of {len(runs['after: LiteRT'])}:"
    )
    for label, reports in runs.items():
        wall = statistics.median(r["wall_s"] for r in reports)
        rss = statistics.median(r["peak_rss_mb"] for r in reports)
        print(f"  {label:<18} {wall:6.2f} s, peak RSS {rss:5.0f} MiB")
    before, after = (statistics.median(r["wall_s"] for r in v) for v in runs.values())
    print(
        f"  after/before {after / before:.2f}; target <= {CLI_TARGET_S} s: "
        f"{'met' if after <= CLI_TARGET_S else 'NOT met'}"
    )


def worker(label: str, model_args: Sequence[str], photos: Sequence[Path]) -> dict[str, Any]:
    """A fresh model process: cold start to ready, sequential stickers/s, peak RSS."""
    report, lines = launched([sys.executable, "-m", "bench.worker", *model_args, *map(str, photos)])
    if report["returncode"] or not lines:
        print(f"worker {label}: failed ({report.get('stderr', '').strip()[-300:]})")
        return {}
    result: dict[str, Any] = json.loads(lines[-1])
    result["cold_start_s"] = result["ready_at"] - report["launched_at"]
    result["peak_rss_mb"] = report["peak_rss_mb"]
    print(
        f"worker {label:<28} {result['backend']:<16} cold start to ready "
        f"{result['cold_start_s']:5.1f} s, {result['stickers_per_s']:5.2f} stickers/s, "
        f"peak RSS {result['peak_rss_mb']:6.0f} MiB",
        flush=True,
    )
    return result


def model_process(model: str, photos: Sequence[Path], repeat: int) -> None:
    """The bot's model process with a TFLite model, before and after, interleaved."""
    rss: dict[str, list[float]] = {label: [] for label in VARIANTS}
    for _ in range(max(1, repeat)):
        for label, backend in VARIANTS.items():
            result = worker(label, ["--model", model, "--backend", backend], photos)
            if not result:
                return
            rss[label].append(result["peak_rss_mb"])
    before, after = (statistics.median(v) for v in rss.values())
    print(
        f"model process peak RSS (median): before {before:.0f} MiB, after {after:.0f} MiB "
        f"({after / before:.2f}); target <= {MODEL_PROCESS_TARGET_MB:g} MiB: "
        f"{'met' if after <= MODEL_PROCESS_TARGET_MB else 'NOT met'}"
    )
