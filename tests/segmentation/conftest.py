"""Fixtures of the segmentation tests: a fast, deterministic stand-in Segmenter."""

from __future__ import annotations

import numpy as np
import pytest

from tests.standins import ColourSegmenter


@pytest.fixture
def colour_segmenter() -> ColourSegmenter:
    """Red pixels are 'cat', green pixels are 'dog', everything else is background."""
    return ColourSegmenter()


@pytest.fixture
def two_animals() -> np.ndarray:
    """A 300x400 photo: a large red disc (cat) and a smaller green square (dog) on grey."""
    rng = np.random.default_rng(0)
    rgb = rng.normal(120, 10, (300, 400, 3)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:300, :400]
    disc = (yy - 150) ** 2 + (xx - 130) ** 2 < 90**2
    rgb[disc] = (220, 40, 40)
    rgb[60:140, 280:360] = (40, 200, 40)
    return rgb
