"""From a network's raw output to per-pixel class probabilities, in NumPy and Pillow only.

Shared by every backend, and free of TensorFlow so that a TFLite or OpenVINO model runs in a
small, fast-starting process.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image

from segmentation.classes import NUM_CLASSES

# A model that outputs labels gives no confidence; its one-hot map is blurred with this sigma
# (as a fraction of the longer side) so the CRF sees soft, uncertain object edges.
LABEL_BLUR_SIGMA: Final = 0.01
# Confidence given to the predicted label of a labels-only model before blurring.
LABEL_CONFIDENCE: Final = 0.9

# quantized_softmax's lookup table holds exp(scale * (code - max_code)) for every code; over
# this logit range the smallest entry would fall below float32's normal range (exp(-87)).
MAX_LUT_LOGIT_RANGE: Final = 80.0


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return np.asarray(shifted, dtype=np.float32)


def quantized_softmax(
    values: np.ndarray, quantization: tuple[float, int], axis: int = -1
) -> np.ndarray:
    """Softmax of affine-quantized scores ``scale * (values - zero_point)`` (uint8 or int8).

    With 8-bit values there are only 256 distinct exponentials: they come from a lookup
    table, so the work is one gather, one sum and one division (about 4x cheaper than
    dequantizing and calling :func:`softmax`). The table is centred on the largest code, so
    no per-pixel maximum is needed as long as the widest logit range,
    ``scale * 255``, keeps every exponential a normal float32 (:data:`MAX_LUT_LOGIT_RANGE`);
    wider ranges (or a zero scale, i.e. float values) fall back to :func:`softmax`.
    """
    scale, zero_point = float(quantization[0]), int(quantization[1])
    if values.dtype not in (np.uint8, np.int8) or not 0 < scale * 255 <= MAX_LUT_LOGIT_RANGE:
        floats = np.asarray(values, dtype=np.float32)
        return softmax(floats if scale == 0 else (floats - zero_point) * np.float32(scale), axis)
    info = np.iinfo(values.dtype)
    codes = np.arange(info.min, info.max + 1, dtype=np.float32)
    table = np.exp(np.float32(scale) * (codes - np.float32(info.max)), dtype=np.float32)
    indices = values.view(np.uint8)  # int8 codes -128..127 land at table indices 128..255, 0..127
    if values.dtype == np.int8:
        table = np.roll(table, -128)
    exps = np.moveaxis(table[indices], axis, -1)
    # A matrix-vector product sums the short class axis ~3x faster than ndarray.sum.
    sums = exps @ np.ones(exps.shape[-1], dtype=np.float32)
    exps *= np.reciprocal(sums)[..., np.newaxis]
    return np.moveaxis(exps, -1, axis)


def labels_to_probabilities(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A soft probability map from hard labels: confident one-hot, blurred at the edges."""
    from skimage.filters import gaussian

    h, w = labels.shape
    rest = (1.0 - LABEL_CONFIDENCE) / (num_classes - 1)
    probs = np.full((h, w, num_classes), rest, dtype=np.float32)
    valid = labels < num_classes
    rows, cols = np.nonzero(valid)
    probs[rows, cols, labels[valid]] = LABEL_CONFIDENCE
    sigma = max(1.0, LABEL_BLUR_SIGMA * max(h, w))
    blurred = gaussian(probs, sigma=(sigma, sigma, 0), preserve_range=True)  # type: ignore[no-untyped-call]
    blurred = np.asarray(blurred, dtype=np.float32)
    blurred /= blurred.sum(axis=-1, keepdims=True)
    return blurred


def dequantize(values: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """``scale * (values - zero_point)`` as float32; a zero scale means float values."""
    scale, zero_point = quantization
    floats = np.asarray(values, dtype=np.float32)
    return floats if scale == 0 else (floats - np.float32(zero_point)) * np.float32(scale)


def scores_to_probabilities(scores: np.ndarray) -> np.ndarray:
    """Float class scores (logits, or probabilities already) -> probabilities."""
    sums = scores.sum(axis=-1)
    if scores.min() >= 0 and np.allclose(sums, 1.0, atol=1e-2):
        return np.asarray(scores, dtype=np.float32)
    return softmax(scores)


def normalised(probs: np.ndarray) -> np.ndarray:
    """``probs`` (float32, classes last) scaled to sum to 1 per pixel.

    A matrix-vector product sums the short class axis ~3x faster than ``ndarray.sum``.
    """
    probs = np.asarray(probs, dtype=np.float32)
    sums = probs @ np.ones(probs.shape[-1], np.float32)
    return np.asarray(probs * np.reciprocal(sums)[..., np.newaxis], dtype=np.float32)


def resize_probabilities(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (half-pixel centres, as ``tf.image.resize``) of an HxWxC probability
    map to ``height x width``, renormalised.

    Each axis in turn is a weighted sum of two gathered rows (columns): ~10 ms for a
    21-class 512 px map, where Pillow needs one call per class plane (~150 ms), SciPy's and
    scikit-image's generic resamplers take 0.6-0.8 s, and TensorFlow is what this module
    exists to avoid.
    """
    if probs.shape[:2] == (height, width):
        return np.asarray(probs, dtype=np.float32)
    probs = np.asarray(probs, dtype=np.float32)
    low, high, frac = _linear_taps(probs.shape[0], height)
    vertical = _lerp(probs[low], probs[high], frac[:, np.newaxis, np.newaxis])
    low, high, frac = _linear_taps(probs.shape[1], width)
    resized = _lerp(vertical[:, low], vertical[:, high], frac[np.newaxis, :, np.newaxis])
    return normalised(resized)


def _lerp(low: np.ndarray, high: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """``low + (high - low) * frac``, in place in ``low`` and ``high`` (no temporaries)."""
    high -= low
    high *= frac
    low += high
    return low


def _linear_taps(size: int, new_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``new_size`` outputs: the two source indices and the weight of the second
    (linear interpolation with half-pixel centres, edges clamped)."""
    source = (np.arange(new_size, dtype=np.float64) + 0.5) * (size / new_size) - 0.5
    source = np.clip(source, 0.0, size - 1)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, size - 1)
    return low, high, (source - low).astype(np.float32)


def fit_into(
    rgb: np.ndarray, height: int, width: int, fill: tuple[int, ...], min_upscale: float = 1.0
) -> np.ndarray:
    """``rgb`` scaled to fit ``height x width`` keeping its aspect ratio (see
    :func:`fitted_size`), at the top left of a canvas of that size filled with ``fill``."""
    fit_h, fit_w = fitted_size(rgb.shape[0], rgb.shape[1], height, width, min_upscale)
    fitted = (
        rgb
        if (fit_h, fit_w) == rgb.shape[:2]
        else np.asarray(Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.BILINEAR))
    )
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[...] = np.asarray(fill, np.uint8)
    canvas[:fit_h, :fit_w] = fitted
    return canvas


def fitted_size(
    h: int, w: int, height: int, width: int, min_upscale: float = 1.0
) -> tuple[int, int]:
    """The size of an ``h x w`` photo scaled to fit ``height x width``; a photo that fits
    already keeps its size unless filling the box enlarges it by more than ``min_upscale``."""
    scale = min(height / h, width / w)
    if 1.0 <= scale <= min_upscale:
        return h, w
    return max(1, min(height, round(h * scale))), max(1, min(width, round(w * scale)))
