"""A folder at a time: ``python -m bench.batch``.

Times, in one run and on the same folder of real photos (the 16 of ``../shared/devset`` and
scikit-image's, 20 in all), ``stickerbot make`` as a user runs it, each a fresh process:

* one call for the folder (``stickerbot make DIR -o OUT``): the model is loaded once;
* the same with ``--jobs N`` for each N given (post-processing in worker processes);
* one call per photo (``stickerbot make PHOTO -o OUT/PHOTO.png``), 20 calls;

and prints photos/s of each and the ratios to one call per photo, with the CPU it ran on.

    python -m bench.batch [--model PATH.tflite] [--photos 20] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import cpu_flags, cpu_name

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "deeplabv3_mnv2_pascal_quant.tflite"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
CONSOLE_SCRIPT = Path(sys.executable).parent / "stickerbot"


def photo_folder(directory: Path, count: int) -> list[Path]:
    """``count`` real photos copied into ``directory``: the devset's, then scikit-image's,
    then again from the start."""
    from PIL import Image
    from skimage import data

    sources = sorted((SHARED / "devset" / "images").glob("*"))
    for name in SKIMAGE_PHOTOS:
        path = directory.parent / f"skimage_{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        sources.append(path)
    directory.mkdir(parents=True)
    photos = []
    for index in range(count):
        source = sources[index % len(sources)]
        target = directory / f"{index:02d}_{source.name}"
        shutil.copyfile(source, target)
        photos.append(target)
    return photos


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    # 3: a photo without an object is an outcome, not a failure of the benchmark.
    if result.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="*", default=[2], metavar="N")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model} (needs ../shared or --model)", file=sys.stderr)
        return 2
    flags = ", ".join(name for name, present in cpu_flags().items() if present)
    print(f"CPU: {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores; {flags}")
    print(f"model: {args.model.name}; {args.photos} photos\n")
    base = [str(CONSOLE_SCRIPT), "make", "--model", str(args.model)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = photo_folder(work / "photos", args.photos)
        rows: list[tuple[str, float]] = []
        rows.append(
            (
                "one call for the folder",
                timed([*base, str(work / "photos"), "-o", str(work / "one")]),
            )
        )
        for jobs in args.jobs:
            out = work / f"jobs{jobs}"
            seconds = timed([*base, str(work / "photos"), "-o", str(out), "--jobs", str(jobs)])
            rows.append((f"one call, --jobs {jobs}", seconds))
        (work / "each").mkdir()
        per_photo = sum(
            timed([*base, str(photo), "-o", str(work / "each" / f"{photo.stem}.png")])
            for photo in photos
        )
        rows.append((f"{len(photos)} calls, one per photo", per_photo))
    print(f"{'':<28} {'seconds':>8} {'photos/s':>9} {'vs per-photo calls':>19}")
    for label, seconds in rows:
        print(
            f"{label:<28} {seconds:8.1f} {len(photos) / seconds:9.2f} {per_photo / seconds:18.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
