"""Keras' own ImageNet VGG-16 weights (with the dense top): where to get them, fetched once.

The file is the one ``keras.applications.VGG16(weights="imagenet")`` downloads; its MD5 is the
one Keras publishes (``keras/src/applications/vgg16.py``), checked after the download.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from segmentation.errors import ModelUnavailable

logger = logging.getLogger(__name__)

VGG16_FILENAME: Final = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_URL: Final = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_FILENAME
)
VGG16_MD5: Final = "64373286793e3c8b2b4e3219cbf3544b"


def fetch_vgg16(
    cache_dir: Path | None = None, *, url: str = VGG16_URL, md5: str = VGG16_MD5
) -> Path:
    """The VGG-16 ImageNet weights file in ``<cache>/downloads``, downloaded if absent."""
    import keras

    from segmentation.weights import DOWNLOADS_SUBDIR, default_cache_dir

    cache = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    (cache / DOWNLOADS_SUBDIR).mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=VGG16_FILENAME,
            origin=url,
            file_hash=md5,
            cache_dir=os.fspath(cache),
            cache_subdir=DOWNLOADS_SUBDIR,
        )
    except Exception as exc:  # get_file raises a bare Exception on URL and hash failures
        raise ModelUnavailable(
            f"could not download the ImageNet VGG-16 weights from {url}: {exc}; download it "
            f"by hand into {cache / DOWNLOADS_SUBDIR / VGG16_FILENAME}"
        ) from exc
    return Path(path)
