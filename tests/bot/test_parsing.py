"""Command arguments and button data: any input gives a value or a documented error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import choices
from bot.arguments import parse_class_argument, parse_switch
from segmentation.classes import VOC_CLASSES
from segmentation.errors import UnknownClass


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cat"], "cat"),
        (["Kitty"], "cat"),
        (["potted", "plant"], "pottedplant"),
        (["AUTO"], "auto"),
        ([], None),
        (["  "], None),
    ],
)
def test_class_argument(args: list[str], expected: str | None) -> None:
    assert parse_class_argument(args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["on"], True),
        (["OFF"], False),
        (["no"], False),
        ([], None),
        (["on", "off"], None),
        (["maybe"], None),
    ],
)
def test_switch(args: list[str], expected: bool | None) -> None:
    assert parse_switch(args) == expected


@given(st.lists(st.text(max_size=80), max_size=5))
def test_class_argument_only_raises_unknown_class(args: list[str]) -> None:
    try:
        result = parse_class_argument(args)
    except UnknownClass:
        return
    assert result is None or result == "auto" or result in VOC_CLASSES[1:]


@given(st.lists(st.text(max_size=20), max_size=3))
def test_switch_never_raises(args: list[str]) -> None:
    assert parse_switch(args) in (True, False, None)


def test_choice_round_trip_fits_telegram() -> None:
    job_id = 10**18 - 1
    for name in VOC_CLASSES[1:]:
        data = choices.encode(job_id, name)
        assert len(data.encode()) <= choices.MAX_CALLBACK_BYTES
        assert choices.decode(data) == choices.Choice(job_id, name)


@given(st.one_of(st.none(), st.text(max_size=100)))
def test_foreign_callback_data_decodes_to_none_or_a_valid_choice(data: str | None) -> None:
    choice = choices.decode(data)
    assert choice is None or choice.target in VOC_CLASSES[1:]


def test_background_is_no_choice() -> None:
    assert choices.decode("pick:1:0") is None
    assert choices.decode("pick:1:21") is None


@given(st.lists(st.text(max_size=80), max_size=5))
def test_a_parsed_class_parses_to_itself(args: list[str]) -> None:
    """Whatever a user typed, what the bot saves is canonical: parsing it again is a no-op."""
    try:
        result = parse_class_argument(args)
    except UnknownClass:
        return
    if result is not None:
        assert parse_class_argument([result]) == result


@given(st.integers(0, 10**18 - 1), st.sampled_from(VOC_CLASSES[1:]))
def test_any_button_we_make_decodes_to_what_it_names(job_id: int, name: str) -> None:
    data = choices.encode(job_id, name)
    assert len(data.encode()) <= choices.MAX_CALLBACK_BYTES
    assert choices.decode(data) == choices.Choice(job_id, name)


@given(st.from_regex(r"pick:[0-9]{0,25}:[0-9]{0,4}", fullmatch=True))
def test_forged_button_data_never_raises_and_never_names_background(data: str) -> None:
    """Callback data is whatever a client sends: near-misses of our format included."""
    choice = choices.decode(data)
    if choice is not None:
        assert 0 <= choice.job_id < 10**18
        assert choice.target in VOC_CLASSES[1:]
