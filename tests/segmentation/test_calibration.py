"""Calibration photos named by the user (``--calibration``, the bot's MODEL_CALIBRATION_DIR):
folders give their image files, decoded; a bad path or a folder without photos is an error
that names it; ``open_model`` reads them only when it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from segmentation.calibration import calibration_files, calibration_photos
from segmentation.errors import ModelUnavailable


def _folder(path: Path) -> list[np.ndarray]:
    path.mkdir()
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (6, 9, 3), np.uint8) for _ in range(2)]
    for i, photo in enumerate(photos):
        Image.fromarray(photo).save(path / f"{i}.png")
    (path / "notes.txt").write_text("not a photo")
    return photos


def test_folder_gives_its_photos_decoded_in_name_order(tmp_path: Path) -> None:
    photos = _folder(tmp_path / "photos")
    assert [p.name for p in calibration_files([tmp_path / "photos"])] == ["0.png", "1.png"]
    decoded = calibration_photos([tmp_path / "photos"])
    assert len(decoded) == len(photos)
    for got, expected in zip(decoded, photos, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_bad_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="missing"):
        calibration_files([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match=repr(str(tmp_path / "empty"))):
        calibration_files([tmp_path / "empty"])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "cat.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ModelUnavailable, match=r"cat\.jpg"):
        calibration_photos([broken])


def test_open_model_decodes_the_calibration_paths_for_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segmentation.models import resolve

    photos = _folder(tmp_path / "photos")
    received: dict[str, Any] = {}

    def loader(model: str, **kwargs: Any) -> str:
        received.update(kwargs)
        return model

    monkeypatch.setattr("segmentation.segmenter.load_segmenter", loader)
    weights = tmp_path / "w.weights.h5"
    resolve.open_model(
        "fcn8s",
        weights=weights,
        precision="int8",
        backend="openvino",
        calibration=(tmp_path / "photos",),
    )
    assert len(received["calibration"]) == len(photos)
    np.testing.assert_array_equal(received["calibration"][1], photos[1])
    resolve.open_model("fcn8s", weights=weights)
    assert received["calibration"] is None
