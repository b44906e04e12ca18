"""The three FCN stages and their initialisation: VGG-16's dense layers as convolutions, each
stage starting as its predecessor."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from segmentation.errors import ModelUnavailable
from segmentation.fcn import ARCHITECTURES, build_fcn, stage_specs
from segmentation.fcn8s import Fcn8sConfig, preprocess
from segmentation.train.init import VGG16_LAYERS, assign, model_weights, vgg16_weights

# A narrow VGG-16 (same depth, fc6 7x7 like VGG's) so the tests run in a second.
TINY = Fcn8sConfig(widths=(4, 4, 8, 8, 8), fc_units=16)


def write_keras_vgg16_h5(path: Path, config: Fcn8sConfig, seed: int = 0) -> dict[str, list]:
    """A file laid out like Keras' ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (Keras 2
    weights format: one group per layer, ``weight_names`` attributes), with ``config``'s sizes:
    ``fc1`` a dense (7*7*C5, units) matrix over the flattened pool5, ``predictions`` the
    1000-way ImageNet layer."""
    rng = np.random.default_rng(seed)
    layers: dict[str, list[np.ndarray]] = {}
    channels = 3
    for block, (width, convs) in enumerate(zip(config.widths, (2, 2, 3, 3, 3), strict=True), 1):
        for i in range(1, convs + 1):
            layers[f"block{block}_conv{i}"] = [
                rng.normal(0, 0.1, (3, 3, channels, width)).astype(np.float32),
                rng.normal(0, 0.1, width).astype(np.float32),
            ]
            channels = width
    units = config.fc_units
    layers["fc1"] = [rng.normal(0, 0.1, (7 * 7 * channels, units)), rng.normal(0, 0.1, units)]
    layers["fc2"] = [rng.normal(0, 0.1, (units, units)), rng.normal(0, 0.1, units)]
    layers["predictions"] = [rng.normal(0, 0.1, (units, 1000)), np.zeros(1000)]
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [name.encode() for name in ["input_1", *layers]]
        file.create_group("input_1").attrs["weight_names"] = []
        for name, (kernel, bias) in layers.items():
            group = file.create_group(name)
            names = [f"{name}_W_1:0", f"{name}_b_1:0"]
            group.attrs["weight_names"] = [n.encode() for n in names]
            group.create_dataset(names[0], data=np.asarray(kernel, np.float32))
            group.create_dataset(names[1], data=np.asarray(bias, np.float32))
    return layers


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_stage_maps_an_image_to_per_pixel_logits(architecture: str) -> None:
    model = build_fcn(architecture, 3, config=TINY)
    out = model(np.zeros((2, 64, 96, 3), np.float32))
    assert tuple(out.shape) == (2, 64, 96, 3)
    names = {layer.name for layer in model.layers}
    assert {spec.name for spec in stage_specs(architecture, 3, TINY)} <= names


def test_stages_add_one_skip_each() -> None:
    learned = [{s.name for s in stage_specs(a, 3, TINY)} for a in ARCHITECTURES]
    assert learned[1] - learned[0] == {"pool4_fc"}
    assert learned[2] - learned[1] == {"pool3_fc"}


def test_next_stage_starts_as_its_predecessor() -> None:
    """FCN-16s from FCN-32s (and FCN-8s from FCN-16s): the new skip starts at zero, so the
    first prediction of the new stage is its predecessor's."""
    rng = np.random.default_rng(1)
    image = preprocess(rng.integers(0, 255, (1, 96, 128, 3)).astype(np.uint8))
    previous = build_fcn("fcn32s", 3, config=TINY)
    for architecture in ARCHITECTURES[1:]:
        model = build_fcn(architecture, 3, config=TINY)
        fresh = assign(model, model_weights(previous))
        assert fresh == [name for name in ("pool4_fc", "pool3_fc") if name in fresh]
        assert len(fresh) == 1
        before, after = np.asarray(previous(image)), np.asarray(model(image))
        # Same coarse scores, upsampled x32 at once or x2 then x16 (x2, x2, x8): bilinear
        # kernels that differ only in how they blend neighbouring cells.
        np.testing.assert_array_equal(
            model.get_layer("fc8").get_weights()[0], previous.get_layer("fc8").get_weights()[0]
        )
        correlation = np.corrcoef(before.ravel(), after.ravel())[0, 1]
        assert correlation > 0.98
        previous = model


def test_vgg16_dense_layers_become_convolutions(tmp_path: Path) -> None:
    path = tmp_path / "vgg16.h5"
    layers = write_keras_vgg16_h5(path, TINY)
    weights = vgg16_weights(path)
    assert set(weights) == set(VGG16_LAYERS.values())
    model = build_fcn("fcn32s", 2, config=TINY)
    assert assign(model, weights) == ["fc8"]  # ImageNet's 1000-way layer is not used
    # Caffe's BGR: conv1_1 reads our RGB with its input channels reversed.
    np.testing.assert_array_equal(
        model.get_layer("conv1_1").get_weights()[0], layers["block1_conv1"][0][:, :, ::-1, :]
    )
    # fc6 on a 7x7 pool5 is fc1 on the flattened pool5 (at the centre, where SAME padding
    # sees the whole window).
    pool5 = np.random.default_rng(2).normal(size=(1, 7, 7, TINY.widths[4])).astype(np.float32)
    conv = np.asarray(model.get_layer("fc6")(pool5))[0, 3, 3]
    dense = np.maximum(pool5.reshape(1, -1) @ layers["fc1"][0] + layers["fc1"][1], 0)[0]
    np.testing.assert_allclose(conv, dense, rtol=1e-4, atol=1e-4)


def test_a_file_that_is_not_vgg16_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [b"dense"]
        group = file.create_group("dense")
        group.attrs["weight_names"] = [b"kernel:0"]
        group.create_dataset("kernel:0", data=np.zeros((2, 2), np.float32))
    with pytest.raises(ModelUnavailable, match="block1_conv1"):
        vgg16_weights(path)


def test_vgg16_of_another_width_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vgg16.h5"
    write_keras_vgg16_h5(path, TINY)
    model = build_fcn("fcn32s", 2, config=Fcn8sConfig(widths=(4, 4, 8, 8, 16), fc_units=16))
    with pytest.raises(ModelUnavailable, match="conv5_1"):
        assign(model, vgg16_weights(path))


def test_a_class_subset_keeps_its_score_rows() -> None:
    source = build_fcn("fcn8s", 4, config=TINY)
    model = build_fcn("fcn8s", 3, config=TINY)
    classes_src = ("background", "cat", "dog", "cow")
    assert (
        assign(
            model,
            model_weights(source),
            source_classes=classes_src,
            classes=("background", "cow", "cat"),
        )
        == []
    )
    for name in ("fc8", "pool4_fc", "pool3_fc"):
        np.testing.assert_array_equal(
            model.get_layer(name).get_weights()[0],
            source.get_layer(name).get_weights()[0][..., [0, 3, 1]],
        )
