"""Checkpoint import, download and loading of the FCN-8s weights, offline.

Checkpoints are written in the tests with the seed's variable names (``tests/.../checkpoints``);
the imported model must reproduce an independent ``tf.nn`` forward pass of those variables.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from segmentation.errors import ModelUnavailable
from segmentation.fcn8s import Fcn8sConfig, build_fcn8s, logits
from segmentation.weights import (
    CHECKPOINT_NAME,
    CHECKPOINT_SPEC,
    FCN8S_CHECKPOINT_URL,
    WEIGHTS_FILENAME,
    checkpoint_spec,
    default_cache_dir,
    download_checkpoint,
    import_checkpoint,
    load_fcn8s,
    weights_path,
)
from tests.segmentation.checkpoints import (
    MEANS,
    TINY_FC_UNITS,
    TINY_WIDTHS,
    fcn8s_shapes,
    random_variables,
    reference_forward,
    tar_gz,
    write_checkpoint,
)

TINY = Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS)
TINY_SHAPES = fcn8s_shapes(TINY_WIDTHS, TINY_FC_UNITS)


@pytest.fixture(scope="module")
def tiny_variables() -> dict[str, np.ndarray]:
    return random_variables(TINY_SHAPES, seed=1)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_variables: dict[str, np.ndarray]) -> Path:
    return write_checkpoint(tmp_path / "ckpt" / CHECKPOINT_NAME, tiny_variables)


def assert_matches_reference(
    model: object, variables: dict[str, np.ndarray], *, scope: str = "fcn_8s/", size: int = 64
) -> None:
    """The model's logits equal the plain tf.nn forward pass of ``variables``."""
    rgb = np.random.default_rng(2).integers(0, 256, (2, size, size + 32, 3), dtype=np.uint8)
    expected = reference_forward(variables, rgb - MEANS, scope=scope)
    actual = np.asarray(logits(model, rgb))
    scale = float(np.abs(expected).max())
    assert scale > 1e-3  # a non-degenerate comparison
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4 * scale)


# --- names ----------------------------------------------------------------------------------


def test_checkpoint_spec_is_the_seeds() -> None:
    assert dict(CHECKPOINT_SPEC) == fcn8s_shapes()
    assert CHECKPOINT_SPEC["fcn_8s/vgg_16/conv1/conv1_1/weights"] == (3, 3, 3, 64)
    assert CHECKPOINT_SPEC["fcn_8s/vgg_16/fc6/weights"] == (7, 7, 512, 4096)
    assert CHECKPOINT_SPEC["fcn_8s/pool3_fc/biases"] == (21,)
    assert len(CHECKPOINT_SPEC) == 2 * 18
    assert checkpoint_spec(config=TINY) == TINY_SHAPES


def test_written_checkpoint_shows_the_seed_names(tiny_checkpoint: Path) -> None:
    reader = tf.train.load_checkpoint(str(tiny_checkpoint))
    assert reader.get_variable_to_shape_map() == {k: list(v) for k, v in TINY_SHAPES.items()}


# --- paths ----------------------------------------------------------------------------------


def test_default_cache_dir_follows_xdg() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/stickerbot")
    home = Path.home() / ".cache" / "stickerbot"
    assert default_cache_dir({}) == home
    assert default_cache_dir({"XDG_CACHE_HOME": "relative/is/ignored"}) == home


def test_default_cache_dir_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "stickerbot"
    assert weights_path() == tmp_path / "stickerbot" / WEIGHTS_FILENAME
    assert weights_path(tmp_path / "c") == tmp_path / "c" / WEIGHTS_FILENAME
    assert WEIGHTS_FILENAME.endswith(".weights.h5")


# --- import ---------------------------------------------------------------------------------


def test_import_then_load_reproduces_the_reference_forward_pass(
    tmp_path: Path, tiny_checkpoint: Path, tiny_variables: dict[str, np.ndarray]
) -> None:
    dest = tmp_path / "w" / WEIGHTS_FILENAME
    assert import_checkpoint(tiny_checkpoint, dest, config=TINY) == dest
    assert dest.is_file()
    assert [p.name for p in dest.parent.iterdir()] == [WEIGHTS_FILENAME]  # no temp file left
    model = load_fcn8s(dest, config=TINY)
    conv = model.get_layer("conv3_2")
    np.testing.assert_array_equal(
        conv.get_weights()[0], tiny_variables["fcn_8s/vgg_16/conv3/conv3_2/weights"]
    )
    assert_matches_reference(model, tiny_variables)


def test_import_accepts_names_without_the_scope_and_v1_checkpoints(
    tmp_path: Path, tiny_variables: dict[str, np.ndarray]
) -> None:
    bare = {name.removeprefix("fcn_8s/"): value for name, value in tiny_variables.items()}
    prefix = write_checkpoint(tmp_path / "v1" / CHECKPOINT_NAME, bare, version=1)
    dest = import_checkpoint(prefix, tmp_path / WEIGHTS_FILENAME, config=TINY)
    assert_matches_reference(load_fcn8s(dest, config=TINY), tiny_variables)


def test_import_ignores_extra_variables(
    tmp_path: Path, tiny_variables: dict[str, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    extra = {
        **tiny_variables,
        "global_step": np.array(7, dtype=np.int64),
        "adam_vars/fcn_8s/vgg_16/fc8/weights/Adam": np.zeros((1, 1, 32, 21), np.float32),
    }
    prefix = write_checkpoint(tmp_path / "x" / CHECKPOINT_NAME, extra)
    with caplog.at_level(logging.INFO, logger="segmentation.weights"):
        import_checkpoint(prefix, tmp_path / WEIGHTS_FILENAME, config=TINY)
    assert "pool3_fc" in caplog.text  # progress is logged per layer
    assert "saved Keras weights" in caplog.text


def test_missing_variable_is_refused_by_name(
    tmp_path: Path, tiny_variables: dict[str, np.ndarray]
) -> None:
    broken = dict(tiny_variables)
    del broken["fcn_8s/pool4_fc/biases"]
    prefix = write_checkpoint(tmp_path / CHECKPOINT_NAME, broken)
    dest = tmp_path / WEIGHTS_FILENAME
    with pytest.raises(ModelUnavailable, match=r"missing 1 variable\(s\): fcn_8s/pool4_fc/biases"):
        import_checkpoint(prefix, dest, config=TINY)
    assert not dest.exists()


def test_misshaped_variable_is_refused_with_both_shapes(
    tmp_path: Path, tiny_variables: dict[str, np.ndarray]
) -> None:
    broken = dict(tiny_variables)
    broken["fcn_8s/vgg_16/fc7/weights"] = np.zeros((1, 1, 32, 31), np.float32)
    prefix = write_checkpoint(tmp_path / CHECKPOINT_NAME, broken)
    with pytest.raises(ModelUnavailable) as info:
        import_checkpoint(prefix, tmp_path / WEIGHTS_FILENAME, config=TINY)
    message = str(info.value)
    assert "fcn_8s/vgg_16/fc7/weights has shape [1, 1, 32, 31], expected [1, 1, 32, 32]" in message
    assert "missing" not in message


def test_seed_sized_model_refuses_a_narrow_checkpoint(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailable, match="conv1_1/weights has shape"):
        import_checkpoint(tiny_checkpoint, tmp_path / WEIGHTS_FILENAME)


def test_unreadable_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="cannot read a TensorFlow checkpoint"):
        import_checkpoint(tmp_path / "nothing.ckpt", tmp_path / WEIGHTS_FILENAME)


def test_import_wants_a_weights_h5_destination(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        import_checkpoint(tiny_checkpoint, tmp_path / "model.h5", config=TINY)


# --- loading --------------------------------------------------------------------------------


def test_load_without_weights_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as info:
        load_fcn8s(cache_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / WEIGHTS_FILENAME) in message
    assert "`stickerbot weights download`" in message
    assert "`stickerbot weights import CKPT_PREFIX`" in message
    assert "--model PATH.tflite" in message


def test_load_refuses_weights_of_another_model(tmp_path: Path) -> None:
    other = build_fcn8s(3, config=TINY)
    path = tmp_path / WEIGHTS_FILENAME
    other.save_weights(path)
    with pytest.raises(ModelUnavailable, match="cannot load FCN-8s weights"):
        load_fcn8s(path, config=TINY)


def test_load_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / WEIGHTS_FILENAME
    path.write_bytes(b"not hdf5")
    with pytest.raises(ModelUnavailable, match="stickerbot weights download"):
        load_fcn8s(path, config=TINY)


# --- download -------------------------------------------------------------------------------


@pytest.fixture
def archive_url(tmp_path: Path, tiny_checkpoint: Path) -> str:
    archive = tar_gz(tiny_checkpoint.parent, tmp_path / "served" / "fcn_8s.tar.gz")
    return archive.as_uri()


def test_download_import_load_offline(
    tmp_path: Path, archive_url: str, tiny_variables: dict[str, np.ndarray]
) -> None:
    cache = tmp_path / "cache"  # does not exist yet
    prefix = download_checkpoint(cache, url=archive_url)
    assert prefix.name == CHECKPOINT_NAME
    assert cache in prefix.parents
    dest = import_checkpoint(prefix, weights_path(cache), config=TINY)
    assert dest == cache / WEIGHTS_FILENAME
    assert_matches_reference(load_fcn8s(cache_dir=cache, config=TINY), tiny_variables)
    # A second call finds the extracted checkpoint without the network.
    Path(archive_url.removeprefix("file://")).unlink()
    assert download_checkpoint(cache, url=archive_url) == prefix


def test_download_accepts_a_renamed_checkpoint(
    tmp_path: Path, tiny_variables: dict[str, np.ndarray]
) -> None:
    prefix = write_checkpoint(tmp_path / "src" / "model.ckpt-100000", tiny_variables)
    url = tar_gz(prefix.parent, tmp_path / "fcn_8s.tar.gz").as_uri()
    found = download_checkpoint(tmp_path / "cache", url=url)
    assert found.name == "model.ckpt-100000"


def test_failed_download_explains_the_manual_route(tmp_path: Path) -> None:
    url = (tmp_path / "gone.tar.gz").as_uri()
    with pytest.raises(ModelUnavailable) as info:
        download_checkpoint(tmp_path / "cache", url=url)
    message = str(info.value)
    assert url in message
    assert str(tmp_path / "cache" / "downloads" / "fcn_8s_extracted") in message
    assert f"stickerbot weights import PATH/{CHECKPOINT_NAME}" in message


def test_archive_without_checkpoint_is_refused_and_dropped(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "README").write_text("no checkpoint here")
    url = tar_gz(junk, tmp_path / "junk.tar.gz").as_uri()
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match=f"contains no {CHECKPOINT_NAME}"):
        download_checkpoint(cache, url=url)
    assert not (cache / "downloads" / "fcn_8s.tar.gz").exists()


def test_a_non_archive_download_is_refused_and_dropped(tmp_path: Path) -> None:
    page = tmp_path / "fcn_8s.tar.gz"
    page.write_text("<html>Dropbox: rate limited</html>")  # what a failed share link serves
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match="stickerbot weights import") as info:
        download_checkpoint(cache, url=page.as_uri())
    assert not (cache / "downloads" / "fcn_8s.tar.gz").exists()
    assert "cannot extract" in str(info.value)
    # The page was not trusted on first use: a later, real archive is accepted.
    assert not (cache / "models" / "pins.json").exists()


def test_the_default_url_is_the_seeds() -> None:
    assert FCN8S_CHECKPOINT_URL == "https://www.dropbox.com/s/7r6lnilgt78ljia/fcn_8s.tar.gz?dl=1"


# --- the seed's exact shapes ----------------------------------------------------------------


@pytest.mark.slow
def test_import_seed_sized_checkpoint(tmp_path: Path) -> None:
    """~540 MB of float32 at the seed's exact names and shapes imports and runs correctly."""
    variables = random_variables(fcn8s_shapes(), seed=3)
    prefix = write_checkpoint(tmp_path / CHECKPOINT_NAME, variables)
    started = time.perf_counter()
    dest = import_checkpoint(prefix, tmp_path / WEIGHTS_FILENAME)
    elapsed = time.perf_counter() - started
    model = load_fcn8s(dest)
    assert model.count_params() == 134_489_759  # 134,362,751 learned + 127,008 fixed bilinear
    assert_matches_reference(model, variables, size=32)
    assert elapsed < 60
