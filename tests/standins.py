"""Stand-ins shared by the test packages. They implement the real protocols (no mocks of the
code under test): a cheap Segmenter whose answer is known, so pipeline and bot tests run fast
through the real ``make_sticker``."""

from __future__ import annotations

import time

import numpy as np

from segmentation.classes import NUM_CLASSES, VOC_CLASSES, class_index


class ColourSegmenter:
    """Reddish pixels are ``cat``, greenish pixels are ``dog``, the rest is background.

    Confidence follows how strongly the colour dominates, so the probabilities are soft like a
    network's. Calls are counted, which lets tests see whether the model ran.
    """

    name = "colour-standin"
    backend = "standin"
    precision = "fp32"
    device = "CPU"
    classes = VOC_CLASSES

    def __init__(self) -> None:
        self.calls = 0

    def warmup(self) -> None:
        self.predict(np.zeros((8, 8, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        pixels = rgb.astype(np.float32) / 255.0
        red = np.clip((pixels[..., 0] - pixels[..., 1:].max(-1) - 0.1) * 4.0, 0.0, 1.0)
        green = np.clip((pixels[..., 1] - pixels[..., [0, 2]].max(-1) - 0.1) * 4.0, 0.0, 1.0)
        logits = np.zeros((*rgb.shape[:2], NUM_CLASSES), np.float32)
        logits[..., 0] = 2.0
        logits[..., class_index("cat")] = red * 6.0
        logits[..., class_index("dog")] = green * 6.0
        logits -= logits.max(-1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(-1, keepdims=True)


class SlowColourSegmenter(ColourSegmenter):
    """The colour stand-in taking a fixed extra time per photo, off the CPU (like a GPU or a
    remote accelerator): what the scale-out tests and benchmarks run."""

    name = "slow-colour-standin"

    def __init__(self, service_s: float = 0.05) -> None:
        super().__init__()
        self.service_s = service_s

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[0] > 8:  # not the warm-up
            time.sleep(self.service_s)
        return super().predict(rgb)
