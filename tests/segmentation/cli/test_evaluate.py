"""``stickerbot evaluate``: mean IoU on a labelled dataset, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segmentation import cli
from tests.conftest import SHARED_DIR


@pytest.mark.slow
def test_evaluate_reports_both_crf_modes(
    deeplab_small_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devset = SHARED_DIR / "devset"
    args = ["evaluate", str(devset), "--model", str(deeplab_small_model_path), "--limit", "3"]
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3
    assert set(report["results"]) == {"crf", "no_crf"}
    for scores in report["results"].values():
        assert 0.0 < scores["miou"] <= 1.0
        assert "background" in scores["iou"]
    assert cli.main([*args, "--crf", "off"]) == 0
    out = capsys.readouterr().out
    assert "mean IoU" in out
    assert "crf off" in out
    assert "crf on" not in out


def test_evaluate_refuses_a_folder_that_is_not_a_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evaluate", str(tmp_path)]) == cli.EXIT_USAGE
    assert "is not a dataset" in capsys.readouterr().err


def test_evaluate_reports_a_bad_mask_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from tests.segmentation.datasets_kit import save_palette_mask
    from tests.standins import ColourSegmenter

    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 6), (200, 20, 20)).save(tmp_path / "images" / "a.png")
    save_palette_mask(np.full((6, 8), 40, np.uint8), tmp_path / "masks" / "a.png")
    monkeypatch.setattr("segmentation.cli.opening.open_segmenter", lambda _args: ColourSegmenter())
    assert cli.main(["evaluate", str(tmp_path), "--crf", "off"]) == cli.EXIT_USAGE
    assert "labels [40] outside 0..20" in capsys.readouterr().err
