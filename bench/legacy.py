"""The post-processing as it was before the soft edge (the benchmark's reference for "today").

Until the sticker stage worked at the sticker's scale, the pipeline brought the refined
probability to the photo's full resolution, selected the object there, and only then cropped
and resampled a binary mask (seed CRF, seed band). :func:`post_process` reproduces that path
with the same library pieces, so that ``python -m bench`` times it against today's in the
same run. Not used by the product.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from segmentation import compose, contour, crf
from segmentation.contour import contour_band
from segmentation.options import OUTLINE_STYLES, StickerOptions


def post_process(photo: np.ndarray, small: np.ndarray, probs: np.ndarray, index: int) -> bytes:
    """Seed CRF, full-resolution mask and selection, binary cut, seed band, PNG."""
    options = StickerOptions()
    prob = crf.refine_classes(small, probs, index, crf.preset("seed"))
    if not np.any(prob > 0.5):
        prob = crf.target_probability(probs, index)
    height, width = photo.shape[:2]
    full = np.asarray(
        Image.fromarray(prob.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    )
    mask = contour.select_object(full > 0.5, options.min_component_ratio, options.max_hole_ratio)
    return compose.encode_png(_compose(photo, mask))


def _compose(rgb: np.ndarray, mask: np.ndarray, side: int = 512) -> np.ndarray:
    style = OUTLINE_STYLES["seed"]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    margin = style.width + 2
    scale = (side - 2 * margin) / max(bottom - top, right - left)
    pad = margin / scale
    box = (left - pad, top - pad, right + pad, bottom + pad)
    out_w = min(side, round((box[2] - box[0]) * scale))
    out_h = min(side, round((box[3] - box[1]) * scale))
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    cy0, cy1 = max(y0, 0), min(y1, rgb.shape[0])
    cx0, cx1 = max(x0, 0), min(x1, rgb.shape[1])
    padding = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1))
    window_rgb = np.pad(rgb[cy0:cy1, cx0:cx1], (*padding, (0, 0)), mode="edge")
    window_mask = np.pad(mask[cy0:cy1, cx0:cx1], padding, mode="constant")
    shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    scaled_rgb = np.asarray(
        Image.fromarray(window_rgb).resize((out_w, out_h), Image.Resampling.LANCZOS, box=shifted)
    )
    scaled_mask = (
        np.asarray(
            Image.fromarray(window_mask.astype(np.float32)).resize(
                (out_w, out_h), Image.Resampling.BILINEAR, box=shifted
            )
        )
        > 0.5
    )
    oy, ox = (side - out_h) // 2, (side - out_w) // 2
    canvas = np.zeros((side, side), bool)
    canvas[oy : oy + out_h, ox : ox + out_w] = scaled_mask
    sticker = np.zeros((side, side, 4), np.uint8)
    sticker[oy : oy + out_h, ox : ox + out_w, :3] = scaled_rgb
    sticker[~canvas] = 0
    sticker[contour_band(canvas, style.width), :3] = style.color
    sticker[canvas, 3] = 255
    return sticker
