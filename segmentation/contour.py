"""Object selection and the sticker's contour band (binary mask morphology).

:func:`select_object` turns the raw per-pixel mask of the target class into "the object":
the largest connected piece plus any piece of comparable size (a cat and its detached tail
tip, two people holding hands), with small holes (specks of misclassified fur, a gap between
fingers) filled. :func:`contour_band` is the seed post's sticker edge: the pixels that a
square erosion removes, i.e. a band about ``width // 2`` pixels wide along the inside of the
mask's boundary, which the compositor paints in a light colour.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from skimage.measure import label as _skimage_label
from skimage.morphology import erosion

# Object pieces are connected through corners too (8-connectivity): a thin diagonal limb
# belongs to its body.
_OBJECT_CONNECTIVITY: Final = 2
# Holes (background pieces) use the complementary 4-connectivity, so that an object drawn with
# 8-connectivity cannot leak a hole out through a diagonal gap between two of its pixels.
_HOLE_CONNECTIVITY: Final = 1


def select_object(
    mask: npt.NDArray[np.bool_], min_component_ratio: float, max_hole_ratio: float
) -> npt.NDArray[np.bool_]:
    """Keep the largest connected component of ``mask`` and those of at least
    ``min_component_ratio`` times its area, then fill the holes whose area is below
    ``max_hole_ratio`` times the kept object's area.

    A background region touching the image border is never a hole (it is a notch, e.g. the
    gap between a person's legs cut by the bottom edge), so it is never filled. Returns a
    new boolean array; all ``False`` when ``mask`` is empty.
    """
    mask = _as_2d_bool(mask)
    components, count = _label(mask, _OBJECT_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0  # label 0 is the background
    keep = sizes >= min_component_ratio * sizes.max()
    keep[int(np.argmax(sizes))] = True  # the largest, whatever the ratio
    keep[0] = False
    selected: npt.NDArray[np.bool_] = keep[components]

    holes, hole_count = _label(~selected, _HOLE_CONNECTIVITY)
    if hole_count == 0:
        return selected
    hole_sizes = np.bincount(holes.ravel())
    fill = hole_sizes < max_hole_ratio * np.count_nonzero(selected)
    fill[0] = False  # label 0 is the object itself
    border = np.concatenate([holes[0, :], holes[-1, :], holes[:, 0], holes[:, -1]])
    fill[np.unique(border)] = False
    filled: npt.NDArray[np.bool_] = selected | fill[holes]
    return filled


def contour_band(mask: npt.NDArray[np.bool_], width: int) -> npt.NDArray[np.bool_]:
    """The pixels of ``mask`` removed by an erosion with a ``width x width`` square.

    Outside the array counts as background, so an object touching the border gets its band
    along the border too. ``width`` 0 or 1 gives an empty band.
    """
    if width < 0:
        raise ValueError(f"contour width must be >= 0, got {width}")
    mask = _as_2d_bool(mask)
    if width <= 1:
        return np.zeros_like(mask)
    # Pad with background so the erosion sees the image edge as an edge of the object.
    pad = width
    padded = np.pad(mask, pad, mode="constant", constant_values=False)
    # A square is a column then a row: two 1-D erosions instead of one 2-D one.
    footprint = [
        (np.ones((width, 1), dtype=bool), 1),
        (np.ones((1, width), dtype=bool), 1),
    ]
    eroded = erosion(padded, footprint)[pad:-pad, pad:-pad]
    band: npt.NDArray[np.bool_] = mask & ~eroded
    return band


def _label(mask: npt.NDArray[np.bool_], connectivity: int) -> tuple[npt.NDArray[np.intp], int]:
    """Connected components of ``mask`` (0 = not in ``mask``) and their count."""
    components, count = _skimage_label(  # type: ignore[no-untyped-call]
        mask, connectivity=connectivity, return_num=True
    )
    return np.asarray(components, dtype=np.intp), int(count)


def _as_2d_bool(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D array, got shape {mask.shape}")
    return np.asarray(mask, dtype=bool)
