"""Synthetic training scenes: discs (class 1) and squares (class 2) on textured backgrounds.

Shapes and colours vary per scene; the background is a random mix of stripes and noise in
colours close to the shapes', so the network has to use shape as well as colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SCENE_SIDE = 96


def scene(rng: np.random.Generator, side: int = SCENE_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """One ``(rgb uint8 [side, side, 3], labels uint8 [side, side])`` scene."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 16)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    base, other = rng.uniform(40, 200, 3), rng.uniform(40, 200, 3)
    mix = (stripes[..., None] + 1) / 2
    rgb = base * mix + other * (1 - mix) + rng.normal(0, 12, (side, side, 3))
    labels = np.zeros((side, side), np.uint8)
    for label in rng.permutation([1, 2]):
        radius = rng.uniform(side * 0.15, side * 0.22)
        cy, cx = rng.uniform(radius, side - radius, 2)
        if label == 1:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            colour = np.array([230, 60, 50]) + rng.normal(0, 15, 3)
        else:
            inside = (np.abs(yy - cy) <= radius * 0.9) & (np.abs(xx - cx) <= radius * 0.9)
            colour = np.array([50, 80, 230]) + rng.normal(0, 15, 3)
        rgb[inside] = colour + rng.normal(0, 10, (int(inside.sum()), 3))
        labels[inside] = label
    return np.clip(rgb, 0, 255).astype(np.uint8), labels


def write_scenes(root: Path, count: int, seed: int) -> tuple[list[Path], list[Path]]:
    """``count`` scenes as ``root/images/NAME.png`` + ``root/masks/NAME.png`` (grey labels)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    images, masks = [], []
    for i in range(count):
        rgb, labels = scene(rng)
        images.append(root / "images" / f"scene{i:03d}.png")
        masks.append(root / "masks" / f"scene{i:03d}.png")
        Image.fromarray(rgb).save(images[-1])
        Image.fromarray(labels, mode="L").save(masks[-1])
    return images, masks
