"""The 21 PASCAL VOC classes, their aliases and the parser of user-typed class names."""

from __future__ import annotations

from typing import Final

from segmentation.errors import UnknownClass

# Label order of PASCAL VOC 2012 segmentation: index == label value in the masks.
VOC_CLASSES: Final[tuple[str, ...]] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
NUM_CLASSES: Final = len(VOC_CLASSES)
BACKGROUND: Final = 0
# Label of "void" pixels (object borders, ambiguous regions) in the official annotations.
VOID_LABEL: Final = 255

# The pseudo-class that picks the largest detected object.
AUTO: Final = "auto"

ALIASES: Final[dict[str, str]] = {
    "airplane": "aeroplane",
    "plane": "aeroplane",
    "bike": "bicycle",
    "ship": "boat",
    "kitten": "cat",
    "kitty": "cat",
    "puppy": "dog",
    "cattle": "cow",
    "table": "diningtable",
    "dining table": "diningtable",
    "dining-table": "diningtable",
    "motorcycle": "motorbike",
    "people": "person",
    "human": "person",
    "man": "person",
    "woman": "person",
    "child": "person",
    "me": "person",
    "plant": "pottedplant",
    "potted plant": "pottedplant",
    "potted-plant": "pottedplant",
    "couch": "sofa",
    "tv": "tvmonitor",
    "monitor": "tvmonitor",
    "television": "tvmonitor",
    "tv/monitor": "tvmonitor",
}

_INDEX: Final = {name: i for i, name in enumerate(VOC_CLASSES)}


def class_index(name: str) -> int:
    """Label value of a canonical class name (``"person"`` -> 15)."""
    return _INDEX[name]


def parse_class(text: str, *, allow_auto: bool = True) -> str:
    """Normalise a user-typed class name to its canonical VOC name (or ``"auto"``).

    Case, surrounding blanks, a plural ``s`` and the aliases above are accepted;
    ``background`` is not a target. Raises :class:`UnknownClass` listing valid names.
    """
    key = " ".join(str(text).strip().lower().split())
    if allow_auto and key == AUTO:
        return AUTO
    for candidate in (key, key.removesuffix("s"), key.removesuffix("es")):
        name = ALIASES.get(candidate, candidate)
        if name in _INDEX and name != VOC_CLASSES[BACKGROUND]:
            return name
    valid = ", ".join(VOC_CLASSES[1:])
    auto = f"{AUTO}, " if allow_auto else ""
    raise UnknownClass(f"unknown class {text!r}; choose one of: {auto}{valid}")


def aliases_of(name: str) -> list[str]:
    """The aliases that map to the canonical class ``name``, sorted."""
    return sorted(alias for alias, target in ALIASES.items() if target == name)
