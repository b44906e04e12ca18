"""``stickerbot make`` over a folder: files, lines, JSON lines, exit codes, ``--jobs``; and
the predict/finish split of the pipeline it relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segmentation import cli
from segmentation.batch import expand, output_names
from segmentation.cli import opening
from segmentation.options import StickerOptions
from segmentation.pipeline import STAGES, finish, make_sticker, predict
from tests.conftest import encode
from tests.standins import ColourSegmenter


def _picture(red: bool, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    width, height = size
    rgb = np.full((height, width, 3), 128, np.uint8)
    if red:
        yy, xx = np.mgrid[:height, :width]
        rgb[(xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (height * 0.3) ** 2] = (220, 30, 30)
    return rgb


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good photos, one without any object, one that is not an image, one non-image file."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a_cat.jpg").write_bytes(encode(_picture(True), "JPEG"))
    (photos / "b_cat.png").write_bytes(encode(_picture(True, (120, 160)), "PNG"))
    (photos / "c_empty.jpg").write_bytes(encode(_picture(False), "JPEG"))
    (photos / "d_broken.jpg").write_bytes(b"this is text, not a photo")
    (photos / "notes.txt").write_text("not picked up: not an image name")
    return photos


@pytest.fixture(autouse=True)
def standin_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's model is the colour stand-in (red is ``cat``): no download, no TensorFlow."""
    monkeypatch.setattr(opening, "open_segmenter", lambda *_a, **_k: ColourSegmenter())


def test_a_folder_gives_files_lines_a_summary_and_the_worst_exit_code(
    folder: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli.main(["make", str(folder), "-o", str(out)]) == cli.EXIT_BAD_IMAGE
    # Read from the file descriptors: the summary must not be muted with TensorFlow's noise.
    captured = capfd.readouterr()
    lines = captured.out.splitlines()
    assert [line.split()[0] for line in lines] == ["made", "made", "no_object", "unreadable"]
    assert lines[0].startswith(f"made       {folder / 'a_cat.jpg'} -> {out / 'a_cat.png'}")
    assert "(cat, coverage" in lines[0]
    assert "d_broken.jpg" in lines[3]
    assert sorted(p.name for p in out.iterdir()) == ["a_cat.png", "b_cat.png"]
    assert "made 2, no object 1, unreadable 1 (4 photos" in captured.err


def test_no_object_alone_exits_3_and_all_good_exits_0(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, empty = folder / "a_cat.jpg", folder / "c_empty.jpg"
    assert cli.main(["make", str(good), str(empty), "-o", str(tmp_path / "o")]) == 3
    assert cli.main(["make", str(good), str(folder / "b_cat.png")]) == cli.EXIT_OK
    assert (folder / "a_cat.sticker.png").exists()  # beside the photo without -o
    capsys.readouterr()


def test_json_lines_parse_one_per_photo(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    cli.main(["make", str(folder), "-o", str(out), "--json"])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in reports] == ["made", "made", "no_object", "unreadable"]
    assert reports[0]["target"] == "cat"
    assert reports[0]["outputs"] == {"png": str(out / "a_cat.png")}
    assert reports[0]["input"] == str(folder / "a_cat.jpg")
    assert "error" in reports[3]


def test_jobs_make_the_same_stickers(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli.main(["make", str(folder), "-o", str(one)]) == cli.EXIT_BAD_IMAGE
    assert cli.main(["make", str(folder), "-o", str(two), "--jobs", "2"]) == cli.EXIT_BAD_IMAGE
    lines = capsys.readouterr().out.splitlines()
    # Same outcome, target and file per photo. The stickers are compared pixel by pixel with a
    # small tolerance: a full-suite run (af56fb9) saw this process's CRF result differ from the
    # freshly spawned workers' by a few edge pixels (coverage 22.1 % against 21.9 %, what a
    # fresh process gives). Cause not found. Ruled out on AMD EPYC (AVX-512, no AMX), where
    # the bytes were equal: after every earlier test module (the main thread's MXCSR logged
    # after each test: FTZ, DAZ and rounding never changed); with FTZ and/or DAZ forced on
    # (not a pixel moves); with TensorFlow, OpenVINO or LiteRT imported first; other
    # PYTHONHASHSEEDs; other heap layouts.
    assert [_outcome(line.replace(str(two), str(one))) for line in lines[4:]] == [
        _outcome(line) for line in lines[:4]
    ]
    for name in ("a_cat.png", "b_cat.png"):
        alone, parallel = (_rgba(folder / name) for folder in (one, two))
        assert alone.shape == parallel.shape == (512, 512, 4)
        opaque_alone, opaque_parallel = alone[..., 3] > 127, parallel[..., 3] > 127
        overlap = (opaque_alone & opaque_parallel).sum() / (opaque_alone | opaque_parallel).sum()
        assert overlap > 0.97
        assert np.abs(alone.astype(int) - parallel.astype(int)).mean() < 2.0


def _outcome(line: str) -> str:
    """A result line without its coverage figure."""
    return line.split(", coverage")[0]


def _rgba(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_batch_usage_errors(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["make", str(folder), str(tmp_path / "missing.jpg")]) == cli.EXIT_USAGE
    assert "missing.jpg" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["make", str(empty)]) == cli.EXIT_USAGE
    assert "no photos" in capsys.readouterr().err
    assert cli.main(["make", str(folder), "--jobs", "0"]) == cli.EXIT_USAGE
    assert cli.main(["make", str(folder), "--webp-out", "x.webp"]) == cli.EXIT_USAGE


def test_a_misspelt_class_is_a_usage_error_with_a_suggestion(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["make", str(folder), "--class", "persn"]) == cli.EXIT_USAGE
    assert "did you mean person?" in capsys.readouterr().err


def test_outputs_are_named_after_their_photos() -> None:
    names = output_names([Path("a/cat.jpg"), Path("b/cat.png"), Path("dog.webp")], Path("o"))
    assert names == {
        Path("a/cat.jpg"): Path("o/cat.png"),
        Path("b/cat.png"): Path("o/cat-2.png"),
        Path("dog.webp"): Path("o/dog.png"),
    }


def test_folders_expand_to_their_images_by_name(folder: Path) -> None:
    found = expand([folder, folder / "a_cat.jpg"])
    assert [p.name for p in found] == [
        "a_cat.jpg",
        "b_cat.png",
        "c_empty.jpg",
        "d_broken.jpg",
        "a_cat.jpg",
    ]


def test_make_sticker_is_predict_then_finish() -> None:
    data = encode(_picture(True), "PNG")
    options = StickerOptions()
    model = ColourSegmenter()
    prediction = predict(data, model, options)
    assert prediction.target == "cat"
    assert set(prediction.timings_ms) == {"decode", "model"}
    split = finish(prediction, options)
    whole = make_sticker(data, model, options)
    assert split.png == whole.png
    assert set(split.timings_ms) == {*STAGES, "total"}


def test_a_second_run_on_a_folder_leaves_the_first_runs_stickers_alone(folder: Path) -> None:
    """Without -o the stickers go beside their photos; running the same command again must
    make the same stickers, not stickers of them (cat.sticker.sticker.png)."""
    assert cli.main(["make", str(folder)]) == cli.EXIT_BAD_IMAGE
    first = sorted(p.name for p in folder.iterdir())
    assert "a_cat.sticker.png" in first
    assert cli.main(["make", str(folder)]) == cli.EXIT_BAD_IMAGE
    assert sorted(p.name for p in folder.iterdir()) == first
    # Named on their own, they are photos like any other.
    assert expand([folder / "a_cat.sticker.png"]) == [folder / "a_cat.sticker.png"]


def test_one_photos_json_has_the_keys_of_a_folders_lines(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`stickerbot make X --json | jq .status` works for one photo as for a folder."""
    photo = folder / "a_cat.jpg"
    assert cli.main(["make", str(photo), "-o", str(tmp_path / "one.png"), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    cli.main(["make", str(folder), "-o", str(tmp_path / "many"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    many = next(line for line in lines if line["input"] == str(photo))
    assert one["input"] == str(photo)
    assert one["status"] == many["status"] == "made"
    assert set(many) <= set(one)
