"""``stickerbot train`` end to end: own classes from a classes file, a VOC class subset,
bad data named, and the trained model used by ``stickerbot make`` and ``classes``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segmentation import cli
from segmentation.backends.trained import TrainedSegmenter
from segmentation.train.command import EXIT_BAD_DATA
from segmentation.trained import read_info
from tests.segmentation.datasets_kit import write_voc
from tests.segmentation.train.mascot import mascot_photo, write_mascot_data

# The smallest sensible backbone: the tests below check plumbing, not quality.
TINY_ARGS = ["--width", "0.0625", "--crop", "64", "--quiet", "--init", "none"]


@pytest.mark.slow
def test_a_model_of_own_classes_makes_stickers_from_the_cli(
    mascot_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = read_info(mascot_model)
    assert info.classes == ("background", "mascot")
    assert info.architecture == "fcn8s"
    assert info.training["steps"] == 300
    assert info.training["data"]["pairs"] == 64

    assert cli.main(["classes", "--model", str(mascot_model)]) == cli.EXIT_OK
    listed = capsys.readouterr().out
    assert "mascot" in listed
    assert "cat" not in listed

    photo = tmp_path / "scene.png"
    photo.write_bytes(mascot_photo())
    out = tmp_path / "sticker.png"
    args = ["make", str(photo), "--model", str(mascot_model), "-o", str(out), "--json"]
    assert cli.main([*args, "--class", "mascots", "--mask-out", str(tmp_path / "m.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "mascot"
    assert set(report["detected"]) == {"mascot"}
    sticker = np.asarray(Image.open(out))
    assert sticker.shape == (512, 512, 4)
    assert sticker[..., 3].any()
    # A VOC class is not one of this model's: refused before the model loads.
    assert cli.main([*args, "--class", "cat"]) == cli.EXIT_USAGE
    assert "choose one of: auto, mascot" in capsys.readouterr().err


def test_a_voc_class_subset_becomes_the_models_class_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    pairs = {}
    for i, label in enumerate((8, 12, 15)):  # cat, dog, person
        photo = tmp_path / f"p{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(photo)
        labels = np.zeros((64, 80), np.uint8)
        labels[10:40, 10:50] = label
        pairs[f"p{i}"] = (photo, labels)
    voc = write_voc(tmp_path / "voc", pairs, split="train")
    out = tmp_path / "out"
    argv = ["train", str(voc), "-o", str(out), "--stage", "fcn32s", "--classes", "dog,kitty"]
    argv += ["--val-split", "train", "--val-every", "1"]  # mIoU as `stickerbot evaluate` does
    assert cli.main([*argv, "--steps", "2", *TINY_ARGS]) == cli.EXIT_OK
    assert re.search(
        r"fcn32s: steps 0 -> 2, loss \S+ -> \S+, val mIoU 0\.\d{3}", capsys.readouterr().out
    )
    info = read_info(out / "fcn32s.model.json")
    assert info.classes == ("background", "dog", "cat")  # aliases work for VOC
    assert info.training["data"]["pairs"] == 2  # the person-only photo is left out


def test_bad_data_stops_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_mascot_data(tmp_path / "data", 3, seed=0)
    Image.fromarray(np.full((96, 96), 7, np.uint8), mode="L").save(data / "masks" / "m001.png")
    argv = ["train", str(data), "-o", str(tmp_path / "out"), "--stage", "fcn8s", "--steps", "1"]
    argv += ["--classes-file", str(data / "classes.txt"), *TINY_ARGS]
    assert cli.main(argv) == EXIT_BAD_DATA
    error = capsys.readouterr().err
    assert "m001.png: labels 7 outside the 2 classes" in error
    assert "--skip-bad" in error
    assert cli.main([*argv, "--skip-bad"]) == cli.EXIT_OK
    assert "skipped:  1 bad pair" in capsys.readouterr().out
    assert read_info(tmp_path / "out" / "fcn8s.model.json").training["data"]["skipped"] == 1


def test_the_recipe_chains_the_stages(tmp_path: Path) -> None:
    """Default: FCN-32s, then FCN-16s from it, then FCN-8s from FCN-16s."""
    data = write_mascot_data(tmp_path / "data", 2, seed=0)
    out = tmp_path / "out"
    argv = ["train", str(data), "-o", str(out), "--classes-file", str(data / "classes.txt")]
    assert cli.main([*argv, "--steps", "1", *TINY_ARGS]) == cli.EXIT_OK
    inits = {s: read_info(out / f"{s}.model.json").training["init"] for s in ("fcn16s", "fcn8s")}
    assert inits == {
        "fcn16s": str(out / "fcn32s.model.json"),
        "fcn8s": str(out / "fcn16s.model.json"),
    }


def test_mixed_precision_trains_and_saves_float32_weights(tmp_path: Path) -> None:
    data = write_mascot_data(tmp_path / "data", 2, seed=0)
    out = tmp_path / "out"
    argv = ["train", str(data), "-o", str(out), "--classes-file", str(data / "classes.txt")]
    argv += ["--stage", "fcn8s", "--steps", "2", "--mixed-precision", "on", *TINY_ARGS]
    argv += ["--val-split", "val", "--val-every", "2"]  # validation runs the float16 model
    assert cli.main(argv) == cli.EXIT_OK
    segmenter = TrainedSegmenter.load(out / "fcn8s.model.json")  # under the float32 policy
    probs = segmenter.predict(np.zeros((40, 50, 3), np.uint8))
    assert probs.dtype == np.float32
    assert probs.shape == (40, 50, 2)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_out_of_range_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_mascot_data(tmp_path / "data", 1, seed=0)
    argv = ["train", str(data), "-o", str(tmp_path / "out"), "--stage", "fcn8s"]
    argv += ["--classes-file", str(data / "classes.txt"), *TINY_ARGS]
    assert cli.main([*argv, "--crop", "100"]) == cli.EXIT_USAGE
    assert "multiple of 32, got 100" in capsys.readouterr().err
    assert cli.main([*argv, "--classes", "unicorn"]) == cli.EXIT_USAGE
    assert "unknown class 'unicorn'; choose one of: mascot" in capsys.readouterr().err
    assert cli.main([*argv, "--steps", "1"]) == cli.EXIT_OK
