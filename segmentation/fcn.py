"""The three FCN stages of the seeds' recipe on one VGG-16 trunk: FCN-32s, FCN-16s, FCN-8s.

Every stage shares the layer names of :mod:`segmentation.fcn8s` (``conv1_1`` .. ``fc8``), so a
stage's weights initialise the next one by name; each stage adds one skip score layer:

* ``fcn32s``: ``fc8`` upsampled x32 (``upsample_x32``);
* ``fcn16s``: ``fc8`` x2 + ``pool4_fc``, upsampled x16 (``upsample_x16``);
* ``fcn8s``: the seed's graph, :func:`segmentation.fcn8s.build_fcn8s`, unchanged.

The upsampling layers are frozen bilinear transposed convolutions, as in the seed. Inputs and
preprocessing are those of :mod:`segmentation.fcn8s` (RGB minus :data:`VGG_MEANS`, sides
multiples of :data:`NETWORK_STRIDE`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from segmentation.classes import NUM_CLASSES

if TYPE_CHECKING:  # Keras is imported by the builders: the stage names stay cheap to import.
    import keras

    from segmentation.fcn8s import ConvSpec, Fcn8sConfig

FCN32S: Final = "fcn32s"
FCN16S: Final = "fcn16s"
FCN8S: Final = "fcn8s"
# In the order the recipe trains them: each initialised from the one before.
ARCHITECTURES: Final[tuple[str, ...]] = (FCN32S, FCN16S, FCN8S)

# The skip score layers each stage has (the layers a stage adds start at zero: the seeds'
# FCN-16s begins as exactly its FCN-32s, and FCN-8s as its FCN-16s).
SKIP_LAYERS: Final[dict[str, tuple[str, ...]]] = {
    FCN32S: (),
    FCN16S: ("pool4_fc",),
    FCN8S: ("pool4_fc", "pool3_fc"),
}


def check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    return architecture


def stage_specs(
    architecture: str, num_classes: int = NUM_CLASSES, config: Fcn8sConfig | None = None
) -> tuple[ConvSpec, ...]:
    """The learned layers of a stage, in graph order (FCN-8s's minus the skips it lacks)."""
    from segmentation.fcn8s import SEED_CONFIG, conv_specs

    config = config or SEED_CONFIG
    absent = {"pool4_fc", "pool3_fc"} - set(SKIP_LAYERS[check_architecture(architecture)])
    return tuple(spec for spec in conv_specs(num_classes, config) if spec.name not in absent)


def build_fcn(
    architecture: str,
    num_classes: int = NUM_CLASSES,
    *,
    config: Fcn8sConfig | None = None,
    kernel_initializer: str = "glorot_uniform",
) -> keras.Model:
    """A fresh model of one stage; same input and output contract as ``build_fcn8s``."""
    import keras

    from segmentation.fcn8s import SEED_CONFIG, build_fcn8s, conv_layer, upsample_layer, vgg_trunk

    config = config or SEED_CONFIG
    if check_architecture(architecture) == FCN8S:
        return build_fcn8s(num_classes, config=config, kernel_initializer=kernel_initializer)
    layers = {
        spec.name: conv_layer(spec, kernel_initializer)
        for spec in stage_specs(architecture, num_classes, config)
    }
    image = keras.Input(shape=(None, None, 3), dtype="float32", name="image")
    score, pools = vgg_trunk(image, layers, config)
    if architecture == FCN32S:
        score = upsample_layer(32, num_classes, "upsample_x32")(score)
    else:
        score = upsample_layer(2, num_classes, "upsample_x2_fc8")(score)
        score = keras.layers.Add(name="fuse_pool4")([score, layers["pool4_fc"](pools[4])])
        score = upsample_layer(16, num_classes, "upsample_x16")(score)
    return keras.Model(image, score, name=architecture)


def learned_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's trainable convolutions (what a stage hands to the next), by graph order."""
    import keras

    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
        and not isinstance(layer, keras.layers.Conv2DTranspose)
    ]
