"""int8 with accuracy control: NNCF reverts the layers whose quantisation moves the argmax
most back to float until the quantised model agrees with the float one.

The metric NNCF watches is the argmax agreement (the share of pixels whose class is the float
model's) on validation inputs -- the calibration photos themselves, preprocessed as
``predict`` feeds them. NNCF (``nncf.quantize_with_accuracy_control``) quantises as
:func:`~segmentation.backends.openvino_int8.quantize` does, measures the agreement, ranks the
quantised layers by how much reverting each one restores it on the worst photos, and reverts
them one at a time, most harmful first, until the bound holds: every photo at least
``min_agreement``, their median at least ``median_agreement``
(:class:`AgreementBound`). The float references are computed once, in fp32.

The agreement is measured on the photo's pixels only (not the padding the model input adds
around it). The library's default bound is stricter than the benchmark's (0.98 / 0.995, on
photos that were not calibrated on), for a margin on photos it did not see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

logger = logging.getLogger(__name__)

# The float references are computed in fp32 (OpenVINO's CPU default is bf16 where native).
_F32_CONFIG: Final = {"INFERENCE_PRECISION_HINT": "f32"}


@dataclass(frozen=True)
class AgreementBound:
    """The agreement with the float model the quantised one must keep on the validation
    inputs: each at least ``min_agreement``, their median at least ``median_agreement``."""

    min_agreement: float
    median_agreement: float

    def __post_init__(self) -> None:
        for name in ("min_agreement", "median_agreement"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]; got {value!r}")

    def margin(self, shares: Sequence[float]) -> float:
        """How far ``shares`` (one agreement per input) are inside the bound: >= 0 when it
        holds, negative by the worst shortfall otherwise."""
        return min(
            min(shares) - self.min_agreement, float(np.median(shares)) - self.median_agreement
        )

    @property
    def max_drop(self) -> float:
        """NNCF's absolute ``max_drop`` from the float model's margin (all shares 1.0) down
        to a margin of 0: the bound just holding."""
        return self.margin([1.0])


def labels(probabilities: Any) -> np.ndarray:
    """The class per pixel of a ``1 x H x W x classes`` output."""
    classes: np.ndarray = np.asarray(probabilities)[0].argmax(axis=-1)
    return classes


def float_labels(
    model: Any, inputs: Sequence[np.ndarray], regions: Sequence[tuple[int, int]]
) -> list[np.ndarray]:
    """The float ``model``'s (an OpenVINO model) classes per pixel for each input, in fp32,
    in its region (the photo's height and width at the top left)."""
    import openvino

    compiled = openvino.Core().compile_model(model, "CPU", _F32_CONFIG)
    return [
        labels(compiled(item)[compiled.output(0)])[:height, :width]
        for item, (height, width) in zip(inputs, regions, strict=True)
    ]


def agreements(compiled: Any, items: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """For each (input, float labels) item, the share of the labels' pixels (the photo's
    region) where the ``compiled`` model's class is the float one."""
    shares = []
    for item, reference in items:
        height, width = reference.shape
        found = labels(compiled(item)[compiled.output(0)])[:height, :width]
        shares.append(float(np.mean(found == reference)))
    return shares


def quantize_with_agreement(
    nncf: Any,
    model: Any,
    inputs: Sequence[np.ndarray],
    bound: AgreementBound,
    regions: Sequence[tuple[int, int]] | None = None,
    **quantize_arguments: Any,
) -> Any:
    """``model`` quantised by ``nncf.quantize_with_accuracy_control`` on ``inputs`` (the
    calibration and the validation set) so that its agreement with the float model, in each
    input's region (the photo at its top left; default: all of it), stays within ``bound``;
    ``quantize_arguments`` go to NNCF as they are (preset, ranges...)."""
    if regions is None:
        regions = [(item.shape[-3], item.shape[-2]) for item in inputs]
    references = float_labels(model, inputs, regions)

    def validate(compiled: Any, items: Iterable[tuple[np.ndarray, np.ndarray]]) -> Any:
        shares = agreements(compiled, items)
        return bound.margin(shares), shares

    validation = nncf.Dataset(list(zip(inputs, references, strict=True)), lambda item: item[0])
    logger.info(
        "int8 with accuracy control: reverting layers to float until every input agrees "
        ">= %.4f, median >= %.4f",
        bound.min_agreement,
        bound.median_agreement,
    )
    return nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(list(inputs)),
        validation,
        validate,
        max_drop=bound.max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        **quantize_arguments,
    )
