"""A TFLite model runs without TensorFlow: the CLI's make path and the bot's model process
never import it (checked in fresh interpreters, where nothing else could have)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.segmentation.tflite_models import bright_is_cat_model, bright_square_photo

REPO = Path(__file__).resolve().parents[3]

CLI_MAKE = """
import json, sys
from segmentation.cli import main
code = main(["make", sys.argv[1], "--model", sys.argv[2], "-o", sys.argv[3], "--json"])
print(json.dumps({"code": code, "tensorflow": sorted(m for m in sys.modules
                  if m.split(".")[0] in ("tensorflow", "keras"))}))
"""

MODEL_PROCESS = """
import json, sys
from bot.app import default_segmenter_factory
from bot.config import load_settings
from bot.engine import compute, load
from segmentation.options import StickerOptions

settings = load_settings(None, BOT_TOKEN="123:abc", MODEL=sys.argv[2])
info = load(default_segmenter_factory(settings))
with open(sys.argv[1], "rb") as photo:
    result = compute(photo.read(), StickerOptions())
print(json.dumps({"backend": info.backend, "error": str(result.error), "target": result.target,
                  "tensorflow": sorted(m for m in sys.modules
                                       if m.split(".")[0] in ("tensorflow", "keras"))}))
"""


@pytest.fixture
def model_and_photo(tmp_path: Path) -> tuple[Path, Path]:
    photo = tmp_path / "photo.png"
    Image.fromarray(bright_square_photo()).save(photo)
    return bright_is_cat_model(tmp_path, "logits"), photo


def _run(script: str, *args: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_cli_make_with_a_tflite_model_never_imports_tensorflow(
    model_and_photo: tuple[Path, Path], tmp_path: Path
) -> None:
    model, photo = model_and_photo
    out = tmp_path / "sticker.png"
    report = _run(CLI_MAKE, photo, model, out)
    assert report == {"code": 0, "tensorflow": []}
    with Image.open(out) as sticker:
        assert sticker.size == (512, 512)


def test_bot_model_process_with_a_tflite_model_never_imports_tensorflow(
    model_and_photo: tuple[Path, Path],
) -> None:
    model, photo = model_and_photo
    report = _run(MODEL_PROCESS, photo, model)
    assert report == {"backend": "tflite", "error": "None", "target": "cat", "tensorflow": []}
