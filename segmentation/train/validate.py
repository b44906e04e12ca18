"""Validation mIoU during training, computed by ``stickerbot evaluate``'s own code
(:func:`segmentation.evaluate.evaluate`, CRF off) on the model being trained.

The validation masks carry the dataset's labels. When the model scores a subset of the
dataset's classes (``--classes cat,dog``), its probabilities are placed at those classes'
label values (the others get none), and the mIoU is the mean over the model's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from segmentation.datasets import Sample
from segmentation.segmenter import Segmenter


class _InSourceLabels:
    """A segmenter whose outputs are spread to the dataset's label values."""

    backend = "tensorflow"

    def __init__(self, inner: Segmenter, source: tuple[str, ...], columns: list[int]) -> None:
        self.name, self.device, self.precision = inner.name, inner.device, inner.precision
        self.classes = source
        self._inner, self._columns = inner, columns

    def warmup(self) -> None:
        self._inner.warmup()

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        probs = self._inner.predict(rgb)
        spread = np.zeros((*probs.shape[:2], len(self.classes)), np.float32)
        spread[..., self._columns] = probs
        return spread


def validator(
    samples: Sequence[Sample],
    classes: tuple[str, ...],
    source: tuple[str, ...],
) -> Callable[[Segmenter], float]:
    """``validate(segmenter) -> mIoU`` over ``samples`` (the dataset's classes ``source``)."""
    from segmentation.evaluate import evaluate

    columns = [source.index(name) for name in classes]

    def validate(segmenter: Segmenter) -> float:
        model: Segmenter = segmenter
        if tuple(classes) != tuple(source):
            model = _InSourceLabels(segmenter, source, columns)
        scores = evaluate(model, samples, crf=False, class_names=source)
        iou = np.asarray(scores.iou, np.float64)[columns]
        return float(np.nanmean(iou))

    return validate
