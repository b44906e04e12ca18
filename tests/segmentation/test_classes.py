from __future__ import annotations

import pytest

from segmentation.classes import (
    ALIASES,
    AUTO,
    NUM_CLASSES,
    VOC_CLASSES,
    aliases_of,
    class_index,
    parse_class,
    suggest_classes,
)
from segmentation.errors import StickerError, UnknownClass


def test_voc_table_order() -> None:
    assert NUM_CLASSES == 21
    assert VOC_CLASSES[0] == "background"
    assert class_index("person") == 15
    assert class_index("cat") == 8
    assert VOC_CLASSES[20] == "tvmonitor"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("person", "person"),
        ("  Person ", "person"),
        ("people", "person"),
        ("human", "person"),
        ("cats", "cat"),
        ("DOGS", "dog"),
        ("tv", "tvmonitor"),
        ("monitor", "tvmonitor"),
        ("plant", "pottedplant"),
        ("potted   plant", "pottedplant"),
        ("motorcycle", "motorbike"),
        ("table", "diningtable"),
        ("buses", "bus"),
        ("auto", AUTO),
        ("AUTO", AUTO),
    ],
)
def test_parse_accepts_names_aliases_and_plurals(typed: str, expected: str) -> None:
    assert parse_class(typed) == expected


@pytest.mark.parametrize("typed", ["unicorn", "", "background", "15", "cat dog"])
def test_parse_refuses_with_the_valid_names(typed: str) -> None:
    with pytest.raises(UnknownClass) as info:
        parse_class(typed)
    message = str(info.value)
    assert repr(typed) in message
    assert "person" in message
    assert "tvmonitor" in message
    assert "auto" in message
    assert isinstance(info.value, StickerError)


def test_auto_can_be_refused() -> None:
    with pytest.raises(UnknownClass):
        parse_class("auto", allow_auto=False)


def test_every_alias_points_to_a_real_class() -> None:
    assert set(ALIASES.values()) <= set(VOC_CLASSES[1:])
    assert "people" in aliases_of("person")
    assert aliases_of("bottle") == []


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("persn", "person"),
        ("kat", "cat"),
        ("dgo", "dog"),
        ("tvmonitr", "tvmonitor"),
        ("motorcyle", "motorbike"),
        ("peple", "person"),
    ],
)
def test_a_misspelt_name_gets_the_closest_classes(typed: str, suggested: str) -> None:
    with pytest.raises(UnknownClass) as info:
        parse_class(typed)
    assert info.value.suggestions[0] == suggested
    assert f"did you mean {suggested}" in str(info.value)
    assert suggest_classes(typed)[0] == suggested


def test_nothing_alike_gets_no_suggestion_but_the_list() -> None:
    with pytest.raises(UnknownClass) as info:
        parse_class("xyzzy")
    assert info.value.suggestions == []
    assert "did you mean" not in str(info.value)
    assert "tvmonitor" in str(info.value)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("puppies", "dog"), ("children", "person"), ("kids", "person"), ("women", "person")],
)
def test_more_plurals_resolve(typed: str, expected: str) -> None:
    assert parse_class(typed) == expected


def test_words_of_another_language_are_accepted_and_suggested() -> None:
    words = {"кошка": "cat", "собака": "dog"}
    assert parse_class("Кошка", words=words) == "cat"
    assert suggest_classes("кошко", words=words) == ["cat"]
