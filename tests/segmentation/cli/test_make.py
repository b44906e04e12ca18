"""``stickerbot make`` end to end: flags, outputs and exit codes, in-process and as a real
process (many photos at once: tests/segmentation/test_batch.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segmentation import cli
from tests.conftest import encode

# The installed console script, beside this interpreter (the package is installed editable).
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "stickerbot")


def test_unknown_class_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["make", "skimage:chelsea", "--class", "unicorn"]) == cli.EXIT_USAGE
    assert "unknown class 'unicorn'" in capsys.readouterr().err


def test_missing_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["make", str(tmp_path / "nope.jpg")]) == cli.EXIT_USAGE
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["make", "skimage:moon"]) == cli.EXIT_USAGE
    assert "unknown sample 'moon'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["-o", "--mask-out", "--webp-out"])
def test_an_output_in_a_missing_folder_is_a_usage_error_before_any_work(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Said at once (exit 2), not as a traceback after the model ran: the default model is
    not even opened (offline it would be exit 5)."""
    absent = tmp_path / "absent"
    code = cli.main(["make", "skimage:chelsea", flag, str(absent / "out.png")])
    assert code == cli.EXIT_USAGE
    assert f"no such folder {str(absent)!r}" in capsys.readouterr().err
    assert not absent.exists()


def test_missing_fcn8s_weights_say_how_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "fcn8s.weights.h5"
    code = cli.main(["make", "skimage:chelsea", "--weights", str(missing)])
    assert code == cli.EXIT_MODEL
    err = capsys.readouterr().err
    assert f"no FCN-8s weights at {missing}" in err
    assert "stickerbot weights download" in err
    # By name, FCN-8s is downloaded on first use: offline, the seed's URL and the manual route.
    code = cli.main(["make", "skimage:chelsea", "--model", "fcn8s", "--cache-dir", str(tmp_path)])
    assert code == cli.EXIT_MODEL
    err = capsys.readouterr().err
    assert "could not download the FCN-8s checkpoint" in err
    assert "stickerbot weights import" in err


def test_make_at_a_precision_without_an_export_says_how_to_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["make", "skimage:chelsea", "--cache-dir", str(tmp_path), "--precision", "int8-dynamic"]
    )
    assert code == cli.EXIT_MODEL
    assert "stickerbot export --precision int8-dynamic" in capsys.readouterr().err


@pytest.mark.slow
def test_make_with_real_model_writes_everything(
    deeplab_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An upright photo stored sideways: the mask must follow the photo as viewed.
    from skimage import data

    upright = np.asarray(data.chelsea())  # 300x451
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to view
    buffer = io.BytesIO()
    Image.fromarray(np.rot90(upright, k=-1)).save(buffer, format="JPEG", exif=exif)
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(buffer.getvalue())

    args = ["make", str(photo), "--model", str(deeplab_model_path), "--json"]
    args += ["--mask-out", str(tmp_path / "mask.png"), "--webp-out", str(tmp_path / "s.webp")]
    assert cli.main(args) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "cat"
    assert next(iter(report["detected"])) == "cat"
    assert 0.1 < report["coverage"] < 0.9
    assert report["crf"] is True
    stages = {"decode", "model", "crf", "compose", "mask", "encode", "total"}
    assert set(report["timings_ms"]) == stages
    assert report["outputs"]["png"] == str(tmp_path / "cat.sticker.png")

    with Image.open(tmp_path / "cat.sticker.png") as sticker:
        assert (sticker.size, sticker.mode) == ((512, 512), "RGBA")
    with Image.open(tmp_path / "mask.png") as mask:
        assert (mask.mode, mask.size) == ("L", (451, 300))
        values = np.asarray(mask)
    assert set(np.unique(values)) == {0, 255}
    # The cat's face is in; the wall along the right edge of the upright photo is out.
    assert values[150, 200] == 255
    assert (values[:, -10:] == 0).mean() > 0.8
    with Image.open(tmp_path / "s.webp") as webp:
        assert webp.size == (512, 512)


@pytest.mark.slow
def test_make_exit_codes_with_real_model(
    deeplab_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ["--model", str(deeplab_model_path)]
    out = tmp_path / "x.png"
    assert cli.main(["make", "skimage:astronaut", "--class", "dog", "-o", str(out), *model]) == 3
    err = capsys.readouterr().err
    assert "no 'dog' found" in err
    assert "person" in err
    assert not out.exists()

    fake = tmp_path / "notes.jpg"
    fake.write_text("this is text, not a photo")
    assert cli.main(["make", str(fake), *model]) == cli.EXIT_BAD_IMAGE
    assert "notes" not in capsys.readouterr().out

    assert cli.main(["make", "skimage:astronaut", "--no-crf", "-o", str(out), *model]) == 0
    stdout = capsys.readouterr().out
    assert "target:   person" in stdout
    assert "crf off" in stdout
    with Image.open(out) as written:
        assert written.size == (512, 512)


@pytest.mark.slow
def test_console_script_runs_as_a_process(deeplab_model_path: Path, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.png"
    from skimage import data

    photo.write_bytes(encode(np.asarray(data.astronaut()), "PNG"))
    result = subprocess.run(
        [CONSOLE_SCRIPT, "make", str(photo), "--model", str(deeplab_model_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "target:   person" in result.stdout
    # TensorFlow's native start-up chatter is kept from the user (shown with -v).
    assert result.stderr == ""
    assert (tmp_path / "astronaut.sticker.png").exists()


def test_look_flags_choose_crf_preset_edge_and_outline(
    deeplab_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["make", "skimage:chelsea", "--model", str(deeplab_model_path), "--json"]
    seed = tmp_path / "seed.png"
    args = [*base, "-o", str(seed), "--crf", "seed", "--edge", "hard", "--style", "seed"]
    assert cli.main(args) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["style"] == "seed"
    shadow = tmp_path / "shadow.png"
    args = [*base, "-o", str(shadow), "--crf", "off", "--stroke-color", "#ff0000", "--shadow"]
    assert cli.main(args) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["crf"] is False
    old = np.asarray(Image.open(seed))
    new = np.asarray(Image.open(shadow))
    assert set(np.unique(old[..., 3])) == {0, 255}  # the seed's binary cut
    assert (old[..., :3][old[..., 3] == 255] == 248).all(axis=-1).any()  # its grey band
    red = (new[..., 0] > 240) & (new[..., 1] < 20) & (new[..., 3] == 255)
    assert red.sum() > 1000  # the red stroke
    assert ((new[..., 3] > 0) & (new[..., 3] < 255)).any()  # soft edge and shadow


def test_bad_colour_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["make", "skimage:chelsea", "--stroke-color", "red"])
    assert "expected a colour like #ffffff" in capsys.readouterr().err


def test_make_calibrates_openvino_int8_on_the_photos_of_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--calibration DIR`: NNCF quantises on the folder's photos; the int8 IR is cached
    under their digest beside the float IR, and `make` reports the int8 engine."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    pytest.importorskip("nncf", reason="NNCF (the openvino extra) is not installed")
    from segmentation.backends import openvino_int8
    from segmentation.backends.openvino import ir_path
    from segmentation.backends.openvino_int8 import Int8Options, int8_ir_path
    from segmentation.fcn8s import Fcn8sConfig, build_fcn8s
    from tests.segmentation.checkpoints import TINY_FC_UNITS, TINY_WIDTHS

    # The calibration folder is under test: NNCF's plain recipe (accuracy control would
    # revert every layer of this tiny random net on white-noise photos).
    monkeypatch.setattr(openvino_int8, "DEFAULT_OPTIONS", Int8Options(accuracy_control=False))

    tiny = build_fcn8s(
        config=Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS),
        kernel_initializer="he_normal",
    )
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny)
    weights = tmp_path / "fcn8s_voc2012.weights.h5"
    weights.write_bytes(b"tiny")
    folder = tmp_path / "calibration"
    folder.mkdir()
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (40, 56, 3), np.uint8) for _ in range(2)]
    for i, photo in enumerate(photos):
        Image.fromarray(photo).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not a photo")

    args = ["make", "skimage:coffee", "--weights", str(weights), "--no-crf", "--json"]
    args += ["--backend", "openvino", "--precision", "int8", "--calibration", str(folder)]
    args += ["--output", str(tmp_path / "sticker.png"), "--inference-side", "96"]
    assert cli.main(args) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert (report["backend"], report["precision"]) == ("openvino", "int8")
    assert int8_ir_path(ir_path(weights), photos).is_file()


def test_calibration_folder_without_photos_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["make", "skimage:coffee", "--backend", "openvino", "--precision", "int8"]
    code = cli.main([*args, "--calibration", str(tmp_path), "--cache-dir", str(tmp_path)])
    assert code == cli.EXIT_MODEL
    assert f"no calibration photos in {str(tmp_path)!r}" in capsys.readouterr().err
    code = cli.main([*args, "--calibration", str(tmp_path / "missing")])
    assert code == cli.EXIT_MODEL
    assert "cannot read the calibration photos" in capsys.readouterr().err


def test_bad_tta_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["make", "skimage:chelsea", "--tta", "1,twice"])
    assert "'twice'" in capsys.readouterr().err


@pytest.mark.slow
def test_make_with_tta_runs_the_network_on_more_views(
    deeplab_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["make", "skimage:chelsea", "--model", str(deeplab_model_path), "--json"]
    args = [*base, "-o", str(tmp_path / "tta.png"), "--tta", "1,1.5,flip"]
    assert cli.main(args) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["tta"] == "1,1.5,flip"
    assert report["target"] == "cat"
    assert cli.main([*base, "-o", str(tmp_path / "plain.png"), "--tta", "off"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["tta"] == "off"


def test_the_cli_flags_choose_a_zoom_preset(capsys: pytest.CaptureFixture[str]) -> None:
    from segmentation.cli.make import _make_options
    from segmentation.options import ZOOM_PRESETS

    parser = cli.build_parser()
    for flags, name in (
        ([], "off"),
        (["--zoom", "tiles"], "tiles"),
        (["--zoom", "view", "--no-zoom"], "off"),
    ):
        args = parser.parse_args(["make", "skimage:chelsea", *flags])
        assert _make_options(args).zoom == ZOOM_PRESETS[name]
    with pytest.raises(SystemExit):
        parser.parse_args(["make", "skimage:chelsea", "--zoom", "huge"])
    assert "'huge'" in capsys.readouterr().err
