"""The README's before/after picture: ``python -m bench.pictures``.

Runs the CLI (``stickerbot make``) on the README's own photo twice, as the seed made stickers
(``--crf seed --edge hard --style seed``) and as it does now (the defaults), then lays both
out on a light and a dark chat background, each with a 3x crop of the same stretch of edge
(nearest-neighbour, so single pixels show).

    python -m bench.pictures [--model M.tflite] [--photo P] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
README_PHOTO = ROOT / ".github" / "readme" / "astronaut.jpg"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "deeplabv3_mnv2_pascal_quant.tflite"

# Telegram's light and dark chat backgrounds (approximately).
BACKGROUNDS: Final = {"light": (222, 230, 214), "dark": (14, 22, 33)}
SEED_FLAGS: Final = ("--crf", "seed", "--edge", "hard", "--style", "seed")
CROP: Final = 64  # side of the edge crop, sticker pixels
ZOOM: Final = 3
PREVIEW: Final = 256  # each sticker is shown at half size


def make(photo: Path, model: str, out: Path, *flags: str) -> Image.Image:
    """Run ``stickerbot make`` (the installed console script beside this interpreter)."""
    command = [str(Path(sys.executable).parent / "stickerbot"), "make", str(photo)]
    command += ["--model", model, "-o", str(out), *flags]
    subprocess.run(command, check=True, capture_output=True)
    return Image.open(out).convert("RGBA")


def edge_point(sticker: Image.Image) -> tuple[int, int]:
    """(x, y) of the object's topmost point: a stretch of edge against the background."""
    alpha = np.asarray(sticker)[..., 3]
    rows = np.flatnonzero((alpha > 0).any(axis=1))
    y = int(rows[0]) + CROP // 3
    xs = np.flatnonzero(alpha[y] > 0)
    return int(xs[0]), y  # the left edge a third of a crop below the top


def tile(stickers: list[Image.Image], background: tuple[int, int, int]) -> Image.Image:
    crop_side = CROP * ZOOM
    width = 16 + len(stickers) * (PREVIEW + 16 + crop_side + 32)
    canvas = Image.new("RGBA", (width, max(PREVIEW, crop_side) + 32), (*background, 255))
    draw = ImageDraw.Draw(canvas)
    left = 16
    for sticker in stickers:
        x, y = edge_point(sticker)  # each its own: the two layouts differ by their margins
        box = (x - CROP // 2, y - CROP // 2, x + CROP // 2, y + CROP // 2)
        canvas.alpha_composite(
            sticker.resize((PREVIEW, PREVIEW), Image.Resampling.LANCZOS), (left, 16)
        )
        scale = PREVIEW / sticker.width
        draw.rectangle(
            [
                left + box[0] * scale,
                16 + box[1] * scale,
                left + box[2] * scale,
                16 + box[3] * scale,
            ],
            outline=(230, 60, 60, 255),
        )
        left += PREVIEW + 16
        crop = sticker.crop(box).resize((crop_side, crop_side), Image.Resampling.NEAREST)
        canvas.alpha_composite(crop, (left, 16))
        left += crop_side + 32
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pictures", description=__doc__)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--photo", type=Path, default=README_PHOTO)
    parser.add_argument("--out", type=Path, default=README_PHOTO.parent)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        before = make(args.photo, args.model, Path(work) / "before.png", *SEED_FLAGS)
        after = make(args.photo, args.model, args.out / f"{args.photo.stem}.sticker.png")
    for name, colour in BACKGROUNDS.items():
        path = args.out / f"{args.photo.stem}.before-after.{name}.png"
        tile([before, after], colour).convert("RGB").save(path, optimize=True)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
