"""The 21 PASCAL VOC classes, their aliases and the parser of user-typed class names.

A name that matches nothing gets suggestions (:func:`suggest_classes`, difflib's ratio over
the names and aliases), carried by the :class:`UnknownClass` it raises.

A model may have its own class list (a trained model's metadata: index 0 is the background);
:func:`parse_class`, :func:`suggest_classes` and :func:`class_index` take it as ``classes``
(default: VOC). The VOC aliases apply to VOC models only; any list accepts case, blanks and
plurals.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
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


# Longest class name a user-defined class list may hold (it ends up in buttons and messages).
MAX_CLASS_NAME = 32
_NAME = re.compile(r"[a-z0-9][a-z0-9 _-]*")


def class_index(name: str, classes: Sequence[str] = VOC_CLASSES) -> int:
    """Label value of a canonical class name (``"person"`` -> 15 in VOC)."""
    if classes is VOC_CLASSES:
        return _INDEX[name]
    return list(classes).index(name)


def normalise(text: str) -> str:
    """The form names are compared in: lower case, blanks collapsed."""
    return " ".join(str(text).strip().lower().split())


def _aliases(classes: Sequence[str]) -> Mapping[str, str]:
    return ALIASES if tuple(classes) == VOC_CLASSES else {}


def parse_class(
    text: str,
    *,
    allow_auto: bool = True,
    words: Mapping[str, str] | None = None,
    classes: Sequence[str] = VOC_CLASSES,
) -> str:
    """Normalise a user-typed class name to its canonical name in ``classes`` (or ``"auto"``).

    Case, surrounding blanks, English plurals (``cats``, ``buses``, ``puppies``) and, for the
    VOC list, the aliases above are accepted; so are ``words``, more names (e.g. in the
    user's language, normalised) mapped to canonical ones. ``background`` (index 0) is not a
    target. Raises :class:`UnknownClass` naming the closest classes and listing the valid
    names.
    """
    key = normalise(text)
    if allow_auto and key == AUTO:
        return AUTO
    targets = set(classes[1:])
    if words and key in words and words[key] in targets:
        return words[key]
    aliases = _aliases(classes)
    for candidate in _singulars(key):
        name = aliases.get(candidate, candidate)
        if name in targets:
            return name
    suggestions = suggest_classes(key, words=words, classes=classes)
    hint = f"did you mean {' or '.join(suggestions)}? " if suggestions else ""
    valid = ", ".join(classes[1:])
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
    text: str,
    *,
    words: Mapping[str, str] | None = None,
    limit: int = MAX_SUGGESTIONS,
    classes: Sequence[str] = VOC_CLASSES,
) -> list[str]:
    """The canonical classes whose name, alias or one of ``words`` is closest to ``text``
    (best first, at most ``limit``): ``"persn"`` -> ``["person"]``."""
    names: dict[str, str] = {name: name for name in classes[1:]}
    names.update(_aliases(classes))
    names.update({k: v for k, v in (words or {}).items() if v in names.values()})
    found: list[str] = []
    for match in difflib.get_close_matches(
        normalise(text), names, n=len(names), cutoff=SUGGESTION_CUTOFF
    ):
        if names[match] not in found:
            found.append(names[match])
    return found[:limit]


def aliases_of(name: str, classes: Sequence[str] = VOC_CLASSES) -> list[str]:
    """The aliases that map to the canonical class ``name`` (VOC classes only), sorted."""
    if tuple(classes) != VOC_CLASSES:
        return []
    return sorted(alias for alias, target in ALIASES.items() if target == name)


def check_class_list(names: Sequence[str]) -> tuple[str, ...]:
    """A model's class list from user-given names: normalised, ``background`` first.

    ``names`` may include ``background`` (it must then be first); names are lower-cased and
    must be unique, start with a letter or digit and hold only letters, digits, blanks,
    ``_`` or ``-``. Raises :class:`ValueError` naming the bad entry.
    """
    keys = [normalise(name) for name in names]
    background = VOC_CLASSES[BACKGROUND]
    if keys and keys[0] == background:
        keys = keys[1:]
    if not keys:
        raise ValueError("the class list is empty: name at least one class besides background")
    seen: set[str] = set()
    for key in keys:
        if key in (background, AUTO):
            raise ValueError(f"{key!r} cannot be a class name (reserved)")
        if not _NAME.fullmatch(key) or len(key) > MAX_CLASS_NAME:
            raise ValueError(
                f"invalid class name {key!r}: use 1-{MAX_CLASS_NAME} letters, digits, "
                "blanks, '_' or '-'"
            )
        if key in seen:
            raise ValueError(f"class {key!r} is listed twice")
        seen.add(key)
    return (background, *keys)
