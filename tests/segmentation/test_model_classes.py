"""A model's own class list through the pipeline and the class parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segmentation.classes import check_class_list, class_index, parse_class
from segmentation.errors import ModelUnavailable, NoObjectFound, UnknownClass
from segmentation.options import StickerOptions
from segmentation.pipeline import make_sticker
from segmentation.trained import read_info
from tests.conftest import encode

OWN = ("background", "mascot", "logo")


class TwoClassSegmenter:
    """Reddish pixels are a mascot, everything else background (no logo ever)."""

    name = "own-standin"
    backend = "standin"
    device = "CPU"
    classes = OWN

    def warmup(self) -> None:
        pass

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        red = (rgb[..., 0].astype(np.int16) - rgb[..., 1:].max(-1) > 60).astype(np.float32)
        probs = np.full((*rgb.shape[:2], 3), 0.05, np.float32)
        probs[..., 0] += 0.85 * (1 - red)
        probs[..., 1] += 0.85 * red
        return probs / probs.sum(-1, keepdims=True)


def photo() -> bytes:
    rgb = np.full((120, 160, 3), (60, 120, 60), np.uint8)
    rgb[30:90, 50:110] = (220, 40, 40)
    return encode(rgb, "PNG")


def test_the_pipeline_names_the_models_classes() -> None:
    sticker = make_sticker(photo(), TwoClassSegmenter(), StickerOptions(target="mascots"))
    assert sticker.target == "mascot"
    assert list(sticker.detected) == ["mascot"]
    assert sticker.mask[60, 80]
    auto = make_sticker(photo(), TwoClassSegmenter(), StickerOptions(crf=False))
    assert auto.target == "mascot"
    with pytest.raises(NoObjectFound, match="'logo'"):
        make_sticker(photo(), TwoClassSegmenter(), StickerOptions(target="logo", crf=False))
    with pytest.raises(UnknownClass, match="choose one of: auto, mascot, logo"):
        make_sticker(photo(), TwoClassSegmenter(), StickerOptions(target="cat", crf=False))


def test_class_lists_are_checked_and_parsed() -> None:
    assert check_class_list(["Mascot", " Logo "]) == OWN
    assert check_class_list(["background", "mascot"]) == ("background", "mascot")
    for bad, message in (
        ([], "empty"),
        (["auto"], "reserved"),
        (["mascot", "mascot"], "twice"),
        (["a/b"], "invalid class name"),
        (["mascot", "background"], "reserved"),
    ):
        with pytest.raises(ValueError, match=message):
            check_class_list(bad)
    assert class_index("logo", OWN) == 2
    assert parse_class("LOGOS", classes=OWN) == "logo"
    with pytest.raises(UnknownClass):
        parse_class("background", classes=OWN)


def _metadata(path: Path, **changes: object) -> Path:
    data: dict[str, object] = {
        "format": "stickerbot-model",
        "version": 1,
        "architecture": "fcn8s",
        "classes": list(OWN),
        "input_mean": [123.68, 116.78, 103.94],
        "widths": [4, 4, 8, 8, 8],
        "convs_per_block": [2, 2, 3, 3, 3],
        "fc_units": 16,
        "fc6_kernel": 7,
        "training": {"steps": 3},
    }
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_models_classes_are_read_without_tensorflow(tmp_path: Path) -> None:
    """The bot learns its classes at start-up even where it runs no model (remote workers)."""
    meta = _metadata(tmp_path / "own.model.json")
    code = (
        "import sys\n"
        "from segmentation.trained import model_classes\n"
        f"print(model_classes({str(meta)!r}), model_classes('auto')[:2])\n"
        "print('HEAVY', [m for m in ('tensorflow', 'keras') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "('background', 'mascot', 'logo') ('background', 'aeroplane')" in out.stdout
    assert "HEAVY []" in out.stdout


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other"}, "not a stickerbot-model"),
        ({"version": 9}, "version 9"),
        ({"architecture": "unet"}, "unknown architecture"),
        ({"classes": ["background"]}, "empty"),
        ({"widths": [4, 4]}, "backbone sizes"),
    ],
)
def test_bad_model_metadata_is_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    meta = _metadata(tmp_path / "bad.model.json", **changes)
    with pytest.raises(ModelUnavailable, match=message):
        read_info(meta)
