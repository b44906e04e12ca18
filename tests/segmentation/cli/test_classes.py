"""``stickerbot classes``: the class names and their aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation import cli


def test_classes_lists_names_and_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["classes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 21  # auto + 20 classes
    assert any(line.startswith("person") and "people" in line for line in out)
    assert any(line.startswith("tvmonitor") and "tv" in line for line in out)


def test_classes_of_a_misspelt_model_is_an_error_not_the_voc_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong --model must not answer with the 21 VOC classes as if it were one."""
    assert cli.main(["classes", "--model", "deeplabv3-mnv2"]) == cli.EXIT_MODEL
    captured = capsys.readouterr()
    assert "unknown model 'deeplabv3-mnv2'" in captured.err
    assert captured.out == ""
    missing = tmp_path / "fcn8s.model.json"
    assert cli.main(["classes", "--model", str(missing)]) == cli.EXIT_MODEL
    assert "trained model not found" in capsys.readouterr().err
    # Registry names and VOC model files still list the VOC classes.
    assert cli.main(["classes", "--model", "deeplabv3-mnv2-dm05-voc"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 21
