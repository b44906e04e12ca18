"""A fresh process doing what the bot's worker does: load, warm up, make stickers.

``python -m bench.worker --model M [--weights W] [--cache-dir C] [--precision P] [--backend B]
PHOTO...``
prints one JSON line: the wall-clock time (``time.time()``) at which it was ready (imports,
model load, warm-up done; the parent subtracts its launch time), the stickers/s of making
every photo in turn, and the process's peak RSS. Run as a child of
``python -m bench`` so that each backend's cold start and memory are measured on their own.

:func:`throughput` is the hook for measuring any processing callable (the bot's worker with
a full queue, for instance) in stickers/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def throughput(process: Callable[[Sequence[bytes]], object], payloads: Sequence[bytes]) -> float:
    """Stickers/s of ``process(payloads)``, a callable that turns every photo into a sticker
    (sequentially, through a queue, in a pool: its business)."""
    start = time.perf_counter()
    process(payloads)
    return len(payloads) / (time.perf_counter() - start)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    Linux's ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` (the
    fallback elsewhere) survives ``exec``, so a child of a big parent would report the
    parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("photos", nargs="+", type=Path)
    args = parser.parse_args(argv)

    from segmentation.errors import NoObjectFound
    from segmentation.options import StickerOptions
    from segmentation.pipeline import make_sticker
    from segmentation.segmenter import load_segmenter

    segmenter = load_segmenter(
        args.model,
        weights=args.weights,
        cache_dir=args.cache_dir,
        precision=args.precision,
        backend=args.backend,
    )
    segmenter.warmup()
    ready_at = time.time()
    payloads = [path.read_bytes() for path in args.photos]

    def make_all(batch: Sequence[bytes]) -> None:
        for data in batch:
            with contextlib.suppress(NoObjectFound):
                make_sticker(data, segmenter, StickerOptions())

    rate = throughput(make_all, payloads)
    report = {
        "ready_at": ready_at,
        "stickers_per_s": rate,
        "peak_rss_mb": peak_rss_mb(),
        "backend": f"{segmenter.backend} {segmenter.precision}",
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
