"""A model of a user-defined class, "mascot", trained through ``stickerbot train`` on an
``images/`` + ``masks/`` folder with a classes file: used end to end by the CLI and bot tests.

The mascot is the red disc of the synthetic scenes; the blue squares are background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segmentation import cli
from tests.segmentation.train.scenes import scene

MASCOT_STEPS = 300


def write_mascot_data(root: Path, count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rgb, labels = scene(rng)
        Image.fromarray(rgb).save(root / "images" / f"m{i:03d}.png")
        Image.fromarray((labels == 1).astype(np.uint8), mode="L").save(
            root / "masks" / f"m{i:03d}.png"
        )
    (root / "classes.txt").write_text("background\nmascot\n", encoding="utf-8")
    return root


def mascot_photo(seed: int = 1234) -> bytes:
    """A held-out scene (never trained on) as PNG bytes: one mascot, one square."""
    import io

    rgb, _ = scene(np.random.default_rng(seed), side=160)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def train_mascot_model(root: Path) -> Path:
    """Train FCN-8s (width x1/8, from scratch) on mascot scenes; the ``.model.json`` path."""
    data = write_mascot_data(root / "data", 64, seed=5)
    out = root / "model"
    code = cli.main(
        [
            "train",
            str(data),
            "--output",
            str(out),
            "--classes-file",
            str(data / "classes.txt"),
            "--stage",
            "fcn8s",
            "--init",
            "none",
            "--width",
            "0.125",
            "--steps",
            str(MASCOT_STEPS),
            "--batch-size",
            "8",
            "--lr",
            "1e-3",
            "--crop",
            "96",
            "--scales",
            "0.8",
            "1.25",
            "--checkpoint-every",
            str(MASCOT_STEPS),
            "--quiet",
        ]
    )
    assert code == cli.EXIT_OK
    return out / "fcn8s.model.json"
