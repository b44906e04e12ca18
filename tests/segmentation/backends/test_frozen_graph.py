"""The DeepLab frozen-graph backend, on a small graph of the same interface built here (input
``ImageTensor``, padding to the crop size, logits from a bilinear resize, output
``SemanticPredictions``), packed like the model zoo's archive and installed from loopback."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from segmentation.backends.frozen_graph import CROP_SIZE, FrozenGraphSegmenter
from segmentation.classes import NUM_CLASSES, class_index
from segmentation.errors import ModelUnavailable
from segmentation.models.registry import FROZEN_GRAPH, XCEPTION65, lookup
from segmentation.models.resolve import open_model
from segmentation.models.store import ensure
from segmentation.options import StickerOptions
from segmentation.pipeline import make_sticker
from tests.conftest import encode
from tests.segmentation.models.conftest import tar_gz_bytes
from tests.segmentation.models.fileserver import Behaviour, serve

CAT, DOG = class_index("cat"), class_index("dog")
MEMBER = "deeplabv3_pascal_train_aug/frozen_inference_graph.pb"


def deeplab_like_graph(*, with_logits: bool = True) -> bytes:
    """A frozen GraphDef: red -> cat, green -> dog, else background, at DeepLab's crop size."""
    import tensorflow as tf

    weights = np.zeros((3, NUM_CLASSES), np.float32)
    weights[0, CAT], weights[1, CAT], weights[2, CAT] = 8.0, -8.0, -8.0
    weights[0, DOG], weights[1, DOG], weights[2, DOG] = -8.0, 8.0, -8.0
    bias = np.full(NUM_CLASSES, -4.0, np.float32)
    bias[0] = 0.0
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.uint8, [1, None, None, 3], name="ImageTensor")
        shape = tf.shape(image)
        pixels = tf.cast(image, tf.float32) / 255.0
        padded = tf.image.pad_to_bounding_box(pixels, 0, 0, CROP_SIZE, CROP_SIZE)
        coarse = tf.nn.avg_pool2d(padded, 3, 3, "SAME")  # 171x171, then upsampled: like DeepLab
        scores = tf.tensordot(coarse, tf.constant(weights), axes=1) + tf.constant(bias)
        scores = tf.reshape(scores, [1, 171, 171, NUM_CLASSES])
        if with_logits:
            logits = tf.compat.v1.image.resize_bilinear(
                scores, [CROP_SIZE, CROP_SIZE], align_corners=True, name="ResizeBilinear_2"
            )
        else:
            logits = tf.image.resize(scores, [CROP_SIZE, CROP_SIZE], method="nearest")
        valid = logits[:, : shape[1], : shape[2]]
        tf.argmax(valid, axis=-1, name="SemanticPredictions")
    return graph.as_graph_def().SerializeToString()


def _photo() -> np.ndarray:
    rgb = np.full((300, 400, 3), 110, np.uint8)
    rgb[40:220, 40:200] = (220, 30, 30)
    rgb[100:200, 260:360] = (30, 210, 30)
    return rgb


def test_logits_are_read_and_match_the_photo(tmp_path: Path) -> None:
    path = tmp_path / "frozen_inference_graph.pb"
    path.write_bytes(deeplab_like_graph())
    segmenter = FrozenGraphSegmenter(path)
    assert segmenter.has_logits
    probs = segmenter.predict(_photo())
    assert probs.shape == (300, 400, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    labels = probs.argmax(-1)
    assert labels[130, 120] == CAT
    assert labels[150, 310] == DOG
    assert labels[280, 20] == 0
    assert 0.3 < probs[130, 120, CAT] < 1.0  # soft scores, not one-hot


def test_a_labels_only_graph_still_works(tmp_path: Path) -> None:
    path = tmp_path / "g.pb"
    path.write_bytes(deeplab_like_graph(with_logits=False))
    segmenter = FrozenGraphSegmenter(path)
    assert not segmenter.has_logits
    labels = segmenter.predict(_photo()).argmax(-1)
    assert (labels[130, 120], labels[150, 310]) == (CAT, DOG)


def test_other_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xfe not a protobuf \x00\x01")
    with pytest.raises(ModelUnavailable, match=r"not a TensorFlow graph|lacks ImageTensor"):
        FrozenGraphSegmenter(junk)
    with pytest.raises(ModelUnavailable, match="frozen graph not found"):
        FrozenGraphSegmenter(tmp_path / "absent.pb")


@pytest.mark.slow
def test_installed_from_the_archive_and_used_for_a_sticker(tmp_path: Path) -> None:
    archive = tar_gz_bytes({MEMBER: deeplab_like_graph()})
    entry = lookup(XCEPTION65)
    assert entry is not None
    assert (entry.backend, entry.member) == (FROZEN_GRAPH, MEMBER)
    behaviour = Behaviour(files={f"/{entry.filename}": archive})
    said: list[str] = []
    with serve(behaviour) as base:
        served = dataclasses.replace(entry, urls=(f"{base}/{entry.filename}",))
        path = ensure(served, cache_dir=tmp_path, emit=said.append)
    assert hashlib.sha256(archive).hexdigest() in " ".join(said)  # trusted on first use
    segmenter = open_model(str(path), cache_dir=tmp_path)
    assert isinstance(segmenter, FrozenGraphSegmenter)
    sticker = make_sticker(encode(_photo(), "PNG"), segmenter, StickerOptions(target="dog"))
    assert sticker.target == "dog"
    assert set(sticker.detected) == {"cat", "dog"}
