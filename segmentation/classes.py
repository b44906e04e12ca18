"""The 21 PASCAL VOC classes, their aliases and the parser of user-typed class names.

A name that matches nothing gets suggestions (:func:`suggest_classes`, difflib's ratio over
the names and aliases), carried by the :class:`UnknownClass` it raises.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
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
    "doggy": "dog",
    "geese": "bird",
    "goose": "bird",
    "cattle": "cow",
    "table": "diningtable",
    "dining table": "diningtable",
    "dining-table": "diningtable",
    "motorcycle": "motorbike",
    "people": "person",
    "men": "person",
    "women": "person",
    "children": "person",
    "kid": "person",
    "boy": "person",
    "girl": "person",
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


def normalise(text: str) -> str:
    """The form names are compared in: lower case, blanks collapsed."""
    return " ".join(str(text).strip().lower().split())


def parse_class(
    text: str, *, allow_auto: bool = True, words: Mapping[str, str] | None = None
) -> str:
    """Normalise a user-typed class name to its canonical VOC name (or ``"auto"``).

    Case, surrounding blanks, English plurals (``cats``, ``buses``, ``puppies``) and the
    aliases above are accepted; so are ``words``, more names (e.g. in the user's language,
    normalised) mapped to canonical ones. ``background`` is not a target. Raises
    :class:`UnknownClass` naming the closest classes and listing the valid names.
    """
    key = normalise(text)
    if allow_auto and key == AUTO:
        return AUTO
    if words and key in words:
        return words[key]
    for candidate in _singulars(key):
        name = ALIASES.get(candidate, candidate)
        if name in _INDEX and name != VOC_CLASSES[BACKGROUND]:
            return name
    suggestions = suggest_classes(key, words=words)
    hint = f"did you mean {' or '.join(suggestions)}? " if suggestions else ""
    valid = ", ".join(VOC_CLASSES[1:])
    auto = f"{AUTO}, " if allow_auto else ""
    raise UnknownClass(
        f"unknown class {text!r}; {hint}choose one of: {auto}{valid}", suggestions=suggestions
    )


def _singulars(key: str) -> Iterable[str]:
    yield key
    yield key.removesuffix("s")
    yield key.removesuffix("es")
    if key.endswith("ies"):
        yield key.removesuffix("ies") + "y"


# How alike (difflib's ratio, 0..1) a typed name and a known one must be to be suggested.
SUGGESTION_CUTOFF = 0.6
MAX_SUGGESTIONS = 3


def suggest_classes(
    text: str, *, words: Mapping[str, str] | None = None, limit: int = MAX_SUGGESTIONS
) -> list[str]:
    """The canonical classes whose name, alias or one of ``words`` is closest to ``text``
    (best first, at most ``limit``): ``"persn"`` -> ``["person"]``."""
    names: dict[str, str] = {name: name for name in VOC_CLASSES[1:]}
    names.update(ALIASES)
    names.update(words or {})
    found: list[str] = []
    for match in difflib.get_close_matches(
        normalise(text), names, n=len(names), cutoff=SUGGESTION_CUTOFF
    ):
        if names[match] not in found:
            found.append(names[match])
    return found[:limit]


def aliases_of(name: str) -> list[str]:
    """The aliases that map to the canonical class ``name``, sorted."""
    return sorted(alias for alias, target in ALIASES.items() if target == name)
