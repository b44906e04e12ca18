"""FCN-32s from ImageNet VGG-16: the weights file comes through the model download path
(here from a loopback server standing in for Keras' storage), MD5-checked, fetched once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from segmentation import cli
from segmentation.fcn8s import Fcn8sConfig
from segmentation.models.download import ChecksumMismatch
from segmentation.models.store import installed_path, recorded_hash
from segmentation.train import vgg16
from segmentation.trained import load_model
from tests.segmentation.models.fileserver import Behaviour, serve
from tests.segmentation.train.mascot import write_mascot_data
from tests.segmentation.train.test_stages import write_keras_vgg16_h5

# What `--width 0.0625` makes of VGG-16's sizes.
SIXTEENTH = Fcn8sConfig(widths=(4, 8, 16, 32, 32), fc_units=256)


def test_vgg16_is_fetched_once_checked_and_starts_fcn32s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h5 = tmp_path / "served.h5"
    layers = write_keras_vgg16_h5(h5, SIXTEENTH)
    served = Behaviour(files={f"/{vgg16.VGG16_FILENAME}": h5.read_bytes()})
    cache = tmp_path / "cache"
    data = write_mascot_data(tmp_path / "data", 2, seed=0)
    with serve(served) as base:
        # Not Keras' file (its MD5 is not the published one): refused, nothing kept.
        with pytest.raises(ChecksumMismatch, match="MD5"):
            vgg16.fetch_vgg16(cache, mirror=base)
        assert not installed_path(vgg16.VGG16_IMAGENET, cache).exists()

        monkeypatch.setattr(vgg16, "VGG16_MD5", hashlib.md5(h5.read_bytes()).hexdigest())
        for out in ("first", "second"):
            argv = ["train", str(data), "-o", str(tmp_path / out), "--stage", "fcn32s"]
            argv += ["--classes-file", str(data / "classes.txt"), "--init", "vgg16"]
            argv += ["--width", "0.0625", "--crop", "64", "--steps", "1", "--lr", "1e-12"]
            argv += ["--cache-dir", str(cache), "--mirror", base, "--quiet"]
            assert cli.main(argv) == cli.EXIT_OK
    assert len(served.requests) == 2  # the refused file, then one download for both runs
    path = installed_path(vgg16.VGG16_IMAGENET, cache)
    assert recorded_hash(path, cache) == hashlib.sha256(h5.read_bytes()).hexdigest()

    model, info = load_model(tmp_path / "first" / "fcn32s.model.json")
    assert info.training["init"] == "vgg16"
    # The VGG layers arrived (conv1_1 reading RGB, fc1 as the 7x7 fc6); the step at a
    # negligible learning rate did not move them.
    np.testing.assert_allclose(
        model.get_layer("conv1_1").get_weights()[0],
        layers["block1_conv1"][0][:, :, ::-1, :],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        model.get_layer("fc6").get_weights()[0],
        np.asarray(layers["fc1"][0], np.float32).reshape(7, 7, 32, 256),
        atol=1e-6,
    )


def test_an_unreachable_vgg16_stops_training_with_where_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_mascot_data(tmp_path / "data", 2, seed=0)
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    argv = ["train", str(data), "-o", str(tmp_path / "out"), "--stage", "fcn32s"]
    argv += ["--classes-file", str(data / "classes.txt"), "--init", "vgg16", "--width", "0.0625"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--mirror", str(empty_mirror), "--quiet"]
    assert cli.main(argv) == cli.EXIT_MODEL
    error = capsys.readouterr().err
    assert vgg16.VGG16_FILENAME in error
    assert not (tmp_path / "out" / "fcn32s.model.json").exists()
