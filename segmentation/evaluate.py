"""Segmentation quality as the FCN paper measures it, over a whole labelled dataset.

One confusion matrix (rows: ground truth, columns: prediction) is accumulated over every
pixel of every sample, void pixels (255) left out; the scores come from it, not from
averaging per-image figures:

* IoU of class *i* = n_ii / (t_i + sum_j n_ji - n_ii), with t_i its ground-truth pixels;
* mean IoU over the classes that occur (in the ground truth or the prediction);
* pixel accuracy = sum_i n_ii / sum_i t_i.

:func:`evaluate` runs a :class:`~segmentation.segmenter.Segmenter` over samples from
:mod:`segmentation.datasets`, with or without the seed's full-image dense CRF; the CLI
(``stickerbot evaluate``) and training's validation both call it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from segmentation.classes import VOC_CLASSES, VOID_LABEL
from segmentation.datasets import Sample, read_sample
from segmentation.errors import DatasetError
from segmentation.image import resize_longer_side
from segmentation.limits import DEFAULT_INFERENCE_SIDE
from segmentation.options import CrfParams
from segmentation.segmenter import Segmenter

logger = logging.getLogger(__name__)


def confusion_matrix(
    pred: npt.NDArray[np.integer],
    gt: npt.NDArray[np.integer],
    num_classes: int,
    void: int = VOID_LABEL,
) -> npt.NDArray[np.int64]:
    """``num_classes x num_classes`` pixel counts: ``[i, j]`` = ground truth i predicted j.

    Pixels whose ground truth is ``void`` are ignored. Raises :class:`ValueError` when the
    shapes differ or a label lies outside ``0 .. num_classes - 1``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has shape {pred.shape}, ground truth {gt.shape}")
    keep = gt != void
    truth = gt[keep].astype(np.int64)
    guess = pred[keep].astype(np.int64)
    for label, values in (("ground-truth", truth), ("predicted", guess)):
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{label} labels {sorted(set(bad.tolist()))[:5]} outside 0..{num_classes - 1} "
                f"(void is {void})"
            )
    counts = np.bincount(truth * num_classes + guess, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass(frozen=True, slots=True, eq=False)
class Scores:
    """The scores of one accumulated confusion matrix (see the module's definitions)."""

    matrix: npt.NDArray[np.int64] = field(repr=False)
    class_names: tuple[str, ...]
    # IoU per class; NaN for a class absent from both the ground truth and the prediction.
    iou: tuple[float, ...]
    miou: float
    pixel_accuracy: float
    images: int = 0

    @classmethod
    def from_matrix(
        cls,
        matrix: npt.NDArray[np.integer],
        class_names: Sequence[str] = VOC_CLASSES,
        *,
        images: int = 0,
    ) -> Scores:
        counts: npt.NDArray[np.int64] = np.asarray(matrix, dtype=np.int64)
        n = len(class_names)
        if counts.shape != (n, n):
            raise ValueError(f"matrix has shape {counts.shape}, expected ({n}, {n})")
        hits = np.diag(counts).astype(np.float64)
        union = counts.sum(axis=0) + counts.sum(axis=1) - hits
        iou = np.full(n, np.nan)
        np.divide(hits, union, out=iou, where=union > 0)
        total = counts.sum()
        present = union > 0
        return cls(
            matrix=counts,
            class_names=tuple(class_names),
            iou=tuple(float(v) for v in iou),
            miou=float(iou[present].mean()) if present.any() else math.nan,
            pixel_accuracy=float(hits.sum() / total) if total else math.nan,
            images=images,
        )

    def per_class(self) -> dict[str, float]:
        """Class name -> IoU, for the classes that occur."""
        return {
            name: value
            for name, value in zip(self.class_names, self.iou, strict=True)
            if not math.isnan(value)
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (IoUs as fractions)."""
        return {
            "images": self.images,
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "iou": self.per_class(),
        }


def labels_from(
    small: npt.NDArray[np.uint8],
    probs: npt.NDArray[np.floating],
    *,
    crf: bool,
    shape: tuple[int, ...],
    crf_params: CrfParams | None = None,
) -> npt.NDArray[np.int64]:
    """Labels at ``shape`` from the network's ``probs`` over ``small`` (CRF or argmax)."""
    if crf:
        from segmentation import crf as dense_crf

        params = dense_crf.DEFAULT_CRF_PARAMS if crf_params is None else crf_params
        labels = dense_crf.refine_full(small, probs, params)
    else:
        labels = np.argmax(probs, axis=-1)
    if labels.shape != shape:
        height, width = shape[:2]
        resized = Image.fromarray(labels.astype(np.int32)).resize(
            (width, height), Image.Resampling.NEAREST
        )
        labels = np.asarray(resized)
    return np.asarray(labels, dtype=np.int64)


def evaluate_modes(
    segmenter: Segmenter,
    samples: Iterable[Sample],
    *,
    crf_modes: Sequence[bool] = (False, True),
    class_names: Sequence[str] = VOC_CLASSES,
    inference_side: int | None = DEFAULT_INFERENCE_SIDE,
    crf_params: CrfParams | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> dict[bool, Scores]:
    """Scores with the CRF off and/or on (``crf_modes``), the network run once per sample.

    ``on_sample`` is called after each sample (a progress bar). Raises
    :class:`~segmentation.errors.DatasetError` for an unreadable sample or a mask label
    outside ``class_names``, and :class:`ValueError` when the model's class count differs.
    """
    n = len(class_names)
    modes = tuple(dict.fromkeys(crf_modes))
    matrices = {mode: np.zeros((n, n), np.int64) for mode in modes}
    count = 0
    for sample in samples:
        rgb, gt = read_sample(sample)
        small = rgb if inference_side is None else resize_longer_side(rgb, inference_side)
        probs = segmenter.predict(small)
        if probs.shape[-1] != n:
            raise ValueError(
                f"model {segmenter.name!r} predicts {probs.shape[-1]} classes, the evaluation "
                f"has {n}"
            )
        for mode in modes:
            labels = labels_from(small, probs, crf=mode, shape=gt.shape, crf_params=crf_params)
            try:
                matrices[mode] += confusion_matrix(labels, gt, n)
            except ValueError as exc:
                raise DatasetError(f"{sample.name} ({str(sample.mask)!r}): {exc}") from exc
        count += 1
        if on_sample is not None:
            on_sample(sample)
    if not count:
        raise DatasetError("no sample to evaluate")
    return {
        mode: Scores.from_matrix(matrix, class_names, images=count)
        for mode, matrix in matrices.items()
    }


def evaluate(
    segmenter: Segmenter,
    samples: Iterable[Sample],
    *,
    crf: bool,
    class_names: Sequence[str] = VOC_CLASSES,
    inference_side: int | None = DEFAULT_INFERENCE_SIDE,
    crf_params: CrfParams | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> Scores:
    """Scores of ``segmenter`` over ``samples`` with the CRF on or off (see
    :func:`evaluate_modes`)."""
    return evaluate_modes(
        segmenter,
        samples,
        crf_modes=(crf,),
        class_names=class_names,
        inference_side=inference_side,
        crf_params=crf_params,
        on_sample=on_sample,
    )[crf]
