"""Keras' own ImageNet VGG-16 weights (with the dense top), fetched once into the model cache.

The file is the one ``keras.applications.VGG16(weights="imagenet")`` downloads. It is an
entry of the same shape as the segmentation models' (:class:`ModelEntry`), though not in the
``stickerbot models`` registry (it is a backbone to train from, not a model to run), and it
travels the same path: :func:`segmentation.models.download.fetch` (progress, resume, mirror),
then trust on first use of its sha256 (Keras publishes none). What Keras does publish is the
file's MD5 (``keras/src/applications/vgg16.py``): a fresh download must match it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Final

from segmentation.models.download import ChecksumMismatch, fetch
from segmentation.models.progress import Progress
from segmentation.models.registry import ModelEntry
from segmentation.models.store import (
    Emit,
    installed_path,
    recorded_hash,
    trust_on_first_use,
    verify_file,
)

logger = logging.getLogger(__name__)

VGG16_FILENAME: Final = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_URL: Final = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_FILENAME
)
# Keras' published hash of that file (keras.utils.get_file's file_hash, an MD5).
VGG16_MD5: Final = "64373286793e3c8b2b4e3219cbf3544b"

VGG16_IMAGENET: Final = ModelEntry(
    name="vgg16-imagenet",
    backend="keras-vgg16-h5",
    filename=VGG16_FILENAME,
    urls=(VGG16_URL,),
    sha256=None,
    size=553_000_000,  # Keras documents 528 MiB
    licence="CC BY 4.0 (Keras applications weights; VGG-16 by Simonyan & Zisserman)",
    input_spec="224x224x3 BGR minus the ImageNet means (Caffe)",
    description="ImageNet VGG-16 with its dense layers: the start of FCN-32s training",
    classes=(),
)


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_vgg16(
    cache_dir: Path | None = None,
    *,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
    md5: str | None = None,
) -> Path:
    """The VGG-16 ImageNet weights file in the model cache, downloaded on first use.

    Raises :class:`~segmentation.errors.ModelUnavailable` when it cannot be fetched and
    :class:`ChecksumMismatch` for a file that is not Keras' (MD5 on download, then the
    recorded sha256 on every use).
    """
    say = emit or (lambda line: logger.warning("%s", line))
    entry = VGG16_IMAGENET
    path = installed_path(entry, cache_dir)
    if path.is_file():
        verify_file(path, recorded_hash(path, cache_dir), cache_dir, say, entry.name)
        return path
    say(f"{entry.name}: not in the cache; downloading {entry.size_text} into {path.parent}")
    fetched = fetch(
        entry.urls, path, sha256=None, mirror=mirror, progress=progress, label=entry.name
    )
    actual, expected = md5_of(path), md5 or VGG16_MD5
    if actual != expected:
        path.unlink()
        raise ChecksumMismatch(
            f"{fetched.source} is not Keras' VGG-16 ImageNet file: MD5 {actual}, Keras "
            f"publishes {expected}"
        )
    trust_on_first_use(path, fetched.sha256, cache_dir, say, entry.name)
    return path
