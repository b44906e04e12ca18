"""``python -m bench.load``: the load test's command line (see :mod:`bench.load`); with
``--serve`` the bot's side, with ``--queue`` the scale-out measurement of :mod:`bench.scale`."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import bench.load
from bench.load.drive import drive
from bench.load.plan import BURST_GAP_S
from bench.load.report import render
from bench.load.serve import serve


def main(argv: list[str] | None = None) -> int:
    doc = bench.load.__doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=doc.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=500, help="photos in all (default 500)")
    parser.add_argument("--users", type=int, default=100, help="distinct users (default 100)")
    parser.add_argument("--burst", type=int, default=100, help="photos a burst (default 100)")
    parser.add_argument(
        "--gap", type=float, default=BURST_GAP_S, help="seconds between later bursts (default 8)"
    )
    parser.add_argument("--model", help="a .tflite model (default: the fast colour stand-in)")
    parser.add_argument(
        "--thread", action="store_true", help="run the model in a thread of the bot process"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    scale = parser.add_argument_group(
        "scaling out (bench.scale: the queue alone, N worker processes)"
    )
    scale.add_argument(
        "--queue", choices=("sqlite", "redis"), help="measure this queue instead of the bot"
    )
    scale.add_argument(
        "--workers", default="1,2,4,8", help="worker counts, comma-separated (default 1,2,4,8)"
    )
    scale.add_argument("--jobs", type=int, default=30, help="jobs per worker (default 30)")
    scale.add_argument(
        "--service-ms", type=float, default=200.0, help="stand-in model's time (default 200)"
    )
    scale.add_argument("--overhead-jobs", type=int, default=100, help="jobs one at a time")
    parser.add_argument("--serve", type=Path, metavar="LAG_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.model))
        return 0
    if args.queue is not None:
        from bench.scale import measure

        print("\n".join(asyncio.run(measure(args))))
        return 0
    if args.photos < 1 or args.users < 1 or args.burst < 1 or args.gap < 0:
        parser.error("--photos, --users and --burst must be positive, --gap not negative")
    report = asyncio.run(drive(args))
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))
    return 0 if report.correct else 1


if __name__ == "__main__":
    raise SystemExit(main())
