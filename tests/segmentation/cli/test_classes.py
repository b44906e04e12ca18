"""``stickerbot classes``: the class names and their aliases."""

from __future__ import annotations

import pytest

from segmentation import cli


def test_classes_lists_names_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["classes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 21  # auto + 20 classes
    assert any(line.startswith("person") and "people" in line for line in out)
    assert any(line.startswith("tvmonitor") and "tv" in line for line in out)
