"""Synthetic FCN-8s checkpoints and an independent ``tf.nn`` forward pass (test helpers).

Nothing here imports ``segmentation.fcn8s`` or ``segmentation.weights``: the names, shapes,
upsampling kernels and the forward pass are written out again from the seed's graph so that
the tests compare the implementation against a second, plain description of it.
"""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)
VGG_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))  # (block, convs) of VGG-16
SEED_WIDTHS = (64, 128, 256, 512, 512)
# A narrow net with the seed's topology: fast to build, write and run.
TINY_WIDTHS = (4, 8, 8, 16, 16)
TINY_FC_UNITS = 32


def fcn8s_shapes(
    widths: tuple[int, ...] = SEED_WIDTHS,
    fc_units: int = 4096,
    num_classes: int = 21,
    *,
    scope: str = "fcn_8s/",
) -> dict[str, tuple[int, ...]]:
    """The seed checkpoint's variable names -> shapes (``scope=""`` drops the leading scope)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def add(name: str, kernel: tuple[int, int, int, int]) -> None:
        shapes[f"{scope}{name}/weights"] = kernel
        shapes[f"{scope}{name}/biases"] = (kernel[-1],)

    channels = 3
    for (block, convs), width in zip(VGG_BLOCKS, widths, strict=True):
        for i in range(1, convs + 1):
            add(f"vgg_16/conv{block}/conv{block}_{i}", (3, 3, channels, width))
            channels = width
    add("vgg_16/fc6", (7, 7, widths[4], fc_units))
    add("vgg_16/fc7", (1, 1, fc_units, fc_units))
    add("vgg_16/fc8", (1, 1, fc_units, num_classes))
    add("pool4_fc", (1, 1, widths[3], num_classes))
    add("pool3_fc", (1, 1, widths[2], num_classes))
    return shapes


def random_variables(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """He-scaled random kernels and small random biases, so activations stay O(1)-O(10)."""
    rng = np.random.default_rng(seed)
    variables: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        value = rng.standard_normal(shape, dtype=np.float32)
        if len(shape) == 4:
            value *= np.float32(np.sqrt(2.0 / (shape[0] * shape[1] * shape[2])))
        else:
            value *= np.float32(0.1)
        variables[name] = value
    return variables


def write_checkpoint(
    prefix: Path, variables: Mapping[str, np.ndarray], *, version: int = 2
) -> Path:
    """Write a name-based (TF-Slim style) checkpoint; ``version=1`` writes the old V1 format."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    names = list(variables)
    tensors = [tf.constant(variables[name]) for name in names]
    if version == 1:
        tf.raw_ops.Save(filename=str(prefix), tensor_names=names, data=tensors)
    else:
        tf.raw_ops.SaveV2(
            prefix=str(prefix),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=tensors,
        )
    return prefix


def tar_gz(source_dir: Path, archive: Path, arcname: str = "fcn_8s") -> Path:
    """Pack ``source_dir`` as ``arcname/`` into a ``.tar.gz``."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_dir, arcname=arcname)
    return archive


def tent_kernel(factor: int, num_classes: int) -> np.ndarray:
    """Bilinear ``[2f, 2f, C, C]`` from the 1-D tent ``1 - |x - c| / f``, ``c = (2f - 1) / 2``."""
    size = 2 * factor
    center = (size - 1) / 2
    tent = np.array([1 - abs(x - center) / factor for x in range(size)], dtype=np.float32)
    kernel = np.zeros((size, size, num_classes, num_classes), dtype=np.float32)
    for c in range(num_classes):
        kernel[:, :, c, c] = tent[:, None] * tent[None, :]
    return kernel


def reference_forward(
    variables: Mapping[str, np.ndarray], image: np.ndarray, *, scope: str = "fcn_8s/"
) -> np.ndarray:
    """The seed's FCN-8s on ``image`` (``[B, H, W, 3]`` float, already minus the means, H and
    W multiples of 32), written with plain ``tf.nn`` ops from the checkpoint variables."""

    def conv(x: tf.Tensor, name: str, relu: bool) -> tf.Tensor:
        kernel, bias = variables[f"{scope}{name}/weights"], variables[f"{scope}{name}/biases"]
        y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME") + bias
        return tf.nn.relu(y) if relu else y

    def upsample(x: tf.Tensor, factor: int) -> tf.Tensor:
        shape = tf.shape(x)
        classes = x.shape[-1]
        out = tf.stack([shape[0], shape[1] * factor, shape[2] * factor, classes])
        kernel = tent_kernel(factor, classes)
        return tf.nn.conv2d_transpose(x, kernel, out, strides=factor, padding="SAME")

    x = tf.constant(image, dtype=tf.float32)
    pools = {}
    for block, convs in VGG_BLOCKS:
        for i in range(1, convs + 1):
            x = conv(x, f"vgg_16/conv{block}/conv{block}_{i}", relu=True)
        x = pools[block] = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
    x = conv(conv(x, "vgg_16/fc6", relu=True), "vgg_16/fc7", relu=True)
    score = upsample(conv(x, "vgg_16/fc8", relu=False), 2)
    score = upsample(score + conv(pools[4], "pool4_fc", relu=False), 2)
    score = upsample(score + conv(pools[3], "pool3_fc", relu=False), 8)
    return np.asarray(score)
