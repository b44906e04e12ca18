"""The models stickerbot can fetch by name: data only, one :class:`ModelEntry` each.

An entry pins where a model comes from (its URLs), what it must be (sha256 and size) and
what it is (backend, licence, input, classes, published accuracy). Entries without a
published hash (``sha256=None``) are trusted on first use: the hash of the first download
is recorded in the cache and every later use is checked against it
(:mod:`segmentation.models.store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from segmentation.classes import VOC_CLASSES

# Backends (how the installed file is loaded, segmentation.segmenter.load_segmenter).
TFLITE: Final = "tflite"
KERAS_FCN8S: Final = "keras-fcn8s"
FROZEN_GRAPH: Final = "tf-frozen-graph"

_CORAL: Final = "https://raw.githubusercontent.com/google-coral/test_data/master/"
_CORAL_GITHUB: Final = "https://github.com/google-coral/test_data/raw/master/"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One downloadable model."""

    name: str
    backend: str
    # The downloaded file's name in the cache (an archive for ``member`` entries).
    filename: str
    urls: tuple[str, ...]
    # Hex sha256 of the download; None: trust on first use.
    sha256: str | None
    # Bytes of the download: exact when ``sha256`` is pinned, else approximate.
    size: int
    licence: str
    input_spec: str
    description: str
    # Mean IoU (%) its authors report on PASCAL VOC 2012 val (for the int8 DeepLabs: 74.3 is
    # the quantized model's; 70.2 is the float dm05 model's in the DeepLab model zoo).
    published_miou: float | None = None
    # Inside an archive: the file the backend loads.
    member: str | None = None
    classes: tuple[str, ...] = VOC_CLASSES

    @property
    def size_text(self) -> str:
        approx = "" if self.sha256 else "~"
        return (
            f"{approx}{self.size / 1e6:.1f} MB"
            if self.size < 1e8
            else f"{approx}{self.size / 1e6:.0f} MB"
        )


DEEPLAB_MNV2: Final = "deeplabv3-mnv2-voc"
DEEPLAB_MNV2_DM05: Final = "deeplabv3-mnv2-dm05-voc"
FCN8S_VOC: Final = "fcn8s-voc"
XCEPTION65: Final = "deeplabv3plus-xception65-voc"

FCN8S_ARCHIVE_URL: Final = "https://www.dropbox.com/s/7r6lnilgt78ljia/fcn_8s.tar.gz?dl=1"

REGISTRY: Final[tuple[ModelEntry, ...]] = (
    ModelEntry(
        name=DEEPLAB_MNV2,
        backend=TFLITE,
        filename="deeplabv3_mnv2_pascal_quant.tflite",
        urls=(
            _CORAL + "deeplabv3_mnv2_pascal_quant.tflite",
            _CORAL_GITHUB + "deeplabv3_mnv2_pascal_quant.tflite",
        ),
        sha256="350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398",
        size=2_193_224,
        licence="Apache-2.0",
        input_spec="1x513x513x3 uint8 RGB",
        description="DeepLabV3, MobileNetV2 backbone, int8 (Coral test data): small and fast",
        published_miou=74.3,
    ),
    ModelEntry(
        name=DEEPLAB_MNV2_DM05,
        backend=TFLITE,
        filename="deeplabv3_mnv2_dm05_pascal_quant.tflite",
        urls=(
            _CORAL + "deeplabv3_mnv2_dm05_pascal_quant.tflite",
            _CORAL_GITHUB + "deeplabv3_mnv2_dm05_pascal_quant.tflite",
        ),
        sha256="0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b",
        size=760_904,
        licence="Apache-2.0",
        input_spec="1x513x513x3 uint8 RGB",
        description="DeepLabV3, MobileNetV2 at depth 0.5, int8: the smallest and fastest",
        published_miou=70.2,
    ),
    ModelEntry(
        name=FCN8S_VOC,
        backend=KERAS_FCN8S,
        filename="fcn_8s.tar.gz",
        urls=(FCN8S_ARCHIVE_URL,),
        sha256=None,
        size=500_000_000,
        licence="MIT (tf-image-segmentation seed)",
        input_spec="any HxWx3 RGB (padded to a multiple of 32)",
        description="FCN-8s, VGG-16 backbone, the seed's TF-Slim checkpoint imported to Keras",
        published_miou=63.65,
    ),
    ModelEntry(
        name=XCEPTION65,
        backend=FROZEN_GRAPH,
        filename="deeplabv3_pascal_train_aug_2018_01_04.tar.gz",
        urls=(
            "http://download.tensorflow.org/models/deeplabv3_pascal_train_aug_2018_01_04.tar.gz",
        ),
        sha256=None,
        size=440_000_000,
        licence="Apache-2.0",
        input_spec="ImageTensor 1xHxWx3 uint8 (longer side 513) -> SemanticPredictions",
        description="DeepLabV3+, Xception-65 backbone, VOC train_aug: the most accurate",
        published_miou=82.2,
        member="deeplabv3_pascal_train_aug/frozen_inference_graph.pb",
    ),
)

# MODEL=auto: the first of these already installed, else AUTO_DOWNLOAD fetched on first use.
AUTO_PREFERENCE: Final = (XCEPTION65, FCN8S_VOC)
AUTO_DOWNLOAD: Final = DEEPLAB_MNV2
# Names that mean a registry entry (the CLI's historical "fcn8s").
ALIASES: Final = {"fcn8s": FCN8S_VOC}


def lookup(name: str, registry: tuple[ModelEntry, ...] = REGISTRY) -> ModelEntry | None:
    """The entry called ``name`` (or one of :data:`ALIASES`), or None."""
    name = ALIASES.get(name, name)
    return next((entry for entry in registry if entry.name == name), None)
