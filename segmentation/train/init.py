"""A stage's starting weights: ImageNet VGG-16, a previous stage, or the seed's FCN-8s.

* **VGG-16** (FCN-32s in the recipe): Keras' own ImageNet file
  (``vgg16_weights_tf_dim_ordering_tf_kernels.h5``) holds ``block{b}_conv{i}`` and the dense
  ``fc1``/``fc2`` layers. The convolutions are copied; ``fc1`` (25088 x 4096, the flattened
  7x7x512 pool5) becomes the 7x7 convolution ``fc6`` and ``fc2`` the 1x1 ``fc7``, "fully
  connected layers as convolutions" as in the seeds. Keras' VGG-16 came from Caffe and reads
  BGR; ``conv1_1``'s input channels are reversed so the network reads our RGB (minus the
  same ImageNet means). ``fc8`` (ImageNet's 1000 classes) is not used: it starts random.
* **A previous stage** (FCN-16s from FCN-32s, FCN-8s from FCN-16s): every layer by name; the
  skip score layer the new stage adds starts at zero, so it begins as its predecessor.
* **Class lists**: when the model's classes are a subset of the source's (``--classes
  cat,dog`` from a VOC model), the score layers keep those classes' rows; for other class
  lists the score layers start afresh (``fc8`` random, skips zero).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import keras
import numpy as np

from segmentation.errors import ModelUnavailable
from segmentation.fcn import learned_layers

logger = logging.getLogger(__name__)

# Keras' VGG16 layer -> our layer.
VGG16_LAYERS: Final[dict[str, str]] = {
    **{
        f"block{b}_conv{i}": f"conv{b}_{i}"
        for b, convs in enumerate((2, 2, 3, 3, 3), start=1)
        for i in range(1, convs + 1)
    },
    "fc1": "fc6",
    "fc2": "fc7",
}
SCORE_LAYERS: Final = ("fc8", "pool4_fc", "pool3_fc")


def read_keras_h5(path: Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> weights (kernel, bias) of a Keras 2 ``.h5`` weights file."""
    import h5py

    weights: dict[str, list[np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as file:
            root = file.get("model_weights", file)
            for layer in root.attrs.get("layer_names", list(root.keys())):
                name = layer.decode() if isinstance(layer, bytes) else str(layer)
                group = root[name]
                names = [
                    n.decode() if isinstance(n, bytes) else str(n)
                    for n in group.attrs.get("weight_names", [])
                ]
                if names:
                    weights[name] = [np.asarray(group[n][()], np.float32) for n in names]
    except (OSError, KeyError) as exc:
        raise ModelUnavailable(f"cannot read Keras weights from {path}: {exc}") from exc
    return weights


def vgg16_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """Our layer name -> [kernel, bias] from Keras' VGG16 ImageNet file, as convolutions."""
    source = read_keras_h5(path)
    missing = [name for name in VGG16_LAYERS if name not in source]
    if missing:
        raise ModelUnavailable(
            f"{path} is not Keras' VGG16 ImageNet weights file (with top): missing "
            f"{', '.join(missing)}"
        )
    converted = {ours: list(source[theirs]) for theirs, ours in VGG16_LAYERS.items()}
    kernel = converted["conv1_1"][0]
    converted["conv1_1"][0] = kernel[:, :, ::-1, :]  # Caffe's BGR -> our RGB
    return converted


def _as_conv(kernel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """A dense kernel reshaped to a convolution's, or None when the sizes differ."""
    if kernel.shape == shape:
        return kernel
    return kernel.reshape(shape) if kernel.size == int(np.prod(shape)) else None


def assign(
    model: keras.Model,
    source: Mapping[str, Sequence[np.ndarray]],
    *,
    source_classes: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
) -> list[str]:
    """Copy ``source`` weights into ``model``'s learned layers by name; returns the layers
    that kept their fresh initialisation. Score layers the source lacks start at zero (skips)
    or random (``fc8``); score layers of another class list keep the rows of the shared
    classes when the model's classes are all in the source's. Any other mismatch is refused.
    """
    fresh: list[str] = []
    rows: list[int] | None = None
    if source_classes is not None and classes is not None and set(classes) <= set(source_classes):
        rows = [list(source_classes).index(name) for name in classes]
    for layer in learned_layers(model):
        target = [np.asarray(w) for w in layer.get_weights()]
        values = source.get(layer.name)
        if values is not None:
            kernel = _as_conv(np.asarray(values[0]), target[0].shape)
            bias = np.asarray(values[1])
            if kernel is not None and bias.shape == target[1].shape:
                layer.set_weights([kernel, bias])
                continue
            if layer.name in SCORE_LAYERS and rows is not None:
                layer.set_weights([np.asarray(values[0])[..., rows], bias[rows]])
                continue
            if layer.name not in SCORE_LAYERS:
                raise ModelUnavailable(
                    f"initial weights of {layer.name} have shape {list(np.shape(values[0]))}, "
                    f"the model needs {list(target[0].shape)}"
                )
        if layer.name in SCORE_LAYERS[1:]:
            layer.set_weights([np.zeros_like(w) for w in target])
        elif layer.name != "fc8":
            raise ModelUnavailable(f"the initial weights have no {layer.name}")
        fresh.append(layer.name)
    logger.info("initialised all layers but %s", ", ".join(fresh) or "none")
    return fresh


def model_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Layer name -> weights of a model's learned layers (the source of the next stage)."""
    return {layer.name: layer.get_weights() for layer in learned_layers(model)}
