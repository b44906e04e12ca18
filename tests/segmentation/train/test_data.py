"""The training input pipeline, the loss, and the refusal of bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segmentation.classes import VOC_CLASSES, VOID_LABEL
from segmentation.datasets import Sample
from segmentation.train.checks import BadSample, EmptySplit, check_samples
from segmentation.train.data import identity_label_map, subset_label_map, training_batches
from segmentation.train.loop import pixel_cross_entropy
from tests.segmentation.train.scenes import write_scenes


def _batches(images: list[Path], masks: list[Path], **kwargs: object) -> tf.data.Dataset:
    options: dict[str, object] = {
        "label_map": identity_label_map(),
        "batch_size": 2,
        "crop": 64,
        "scales": (0.5, 1.5),
    }
    options.update(kwargs)
    return training_batches(images, masks, **options)  # type: ignore[arg-type]


def test_batches_are_crops_with_void_padding(tmp_path: Path) -> None:
    images, masks = write_scenes(tmp_path, 3, seed=0)
    batch_images, batch_labels = next(iter(_batches(images, masks, crop=160)))
    assert batch_images.shape == (2, 160, 160, 3)
    assert batch_images.dtype == tf.float32
    assert batch_labels.shape == (2, 160, 160)
    assert batch_labels.dtype == tf.int32
    labels = np.asarray(batch_labels)
    # A 96 px scene scaled by at most 1.5 is padded up to 160 with void, never with a class.
    assert (labels == VOID_LABEL).any()
    assert set(np.unique(labels)) <= {0, 1, 2, VOID_LABEL}


def test_the_stream_resumes_at_any_step(tmp_path: Path) -> None:
    """Batch s of a stream started at step s is batch s of the whole stream: a resumed run
    trains on exactly what an uninterrupted one would."""
    images, masks = write_scenes(tmp_path, 5, seed=1)
    whole = [np.asarray(x) for x, _ in _batches(images, masks, seed=7).take(6)]
    resumed = [np.asarray(x) for x, _ in _batches(images, masks, seed=7, start_step=4).take(2)]
    np.testing.assert_array_equal(resumed[0], whole[4])
    np.testing.assert_array_equal(resumed[1], whole[5])
    other_seed = np.asarray(next(iter(_batches(images, masks, seed=8)))[0])
    assert not np.array_equal(other_seed, whole[0])


def test_a_class_subset_maps_other_classes_to_background() -> None:
    table = subset_label_map(VOC_CLASSES, ("background", "dog", "cat"))
    assert table[VOC_CLASSES.index("dog")] == 1
    assert table[VOC_CLASSES.index("cat")] == 2
    assert table[VOC_CLASSES.index("person")] == 0
    assert table[VOID_LABEL] == VOID_LABEL


def test_the_loss_ignores_void_and_is_a_per_pixel_mean() -> None:
    logits = tf.constant(np.random.default_rng(0).normal(size=(1, 4, 4, 3)), tf.float32)
    labels = np.full((1, 4, 4), VOID_LABEL, np.int32)
    labels[0, :2] = [[0, 1, 2, 1], [2, 2, 0, 1]]
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=np.where(labels == VOID_LABEL, 0, labels), logits=logits
    )
    expected = float(tf.reduce_mean(per_pixel[0, :2]))
    assert float(pixel_cross_entropy(logits, tf.constant(labels))) == pytest.approx(expected)
    # Changing the logits of void pixels changes nothing.
    changed = logits.numpy()
    changed[0, 2:] += 100.0
    assert float(pixel_cross_entropy(tf.constant(changed), tf.constant(labels))) == pytest.approx(
        expected
    )


def _pair(tmp_path: Path, name: str, size: tuple[int, int], labels: int = 1) -> Sample:
    image, mask = tmp_path / f"{name}.jpg", tmp_path / f"{name}.png"
    Image.new("RGB", size, (120, 80, 40)).save(image)
    values = np.zeros((size[1], size[0]), np.uint8)
    values[: size[1] // 2] = labels
    Image.fromarray(values, mode="L").save(mask)
    return Sample(name, image, mask)


def test_bad_pairs_are_named_or_skipped_and_counted(tmp_path: Path) -> None:
    good = _pair(tmp_path, "good", (40, 30))
    wrong_size = _pair(tmp_path, "size", (40, 30))
    Image.new("L", (30, 40)).save(wrong_size.mask)
    outside = _pair(tmp_path, "outside", (40, 30), labels=7)
    unreadable = _pair(tmp_path, "broken", (40, 30))
    unreadable.image.write_bytes(b"not a jpeg")
    turned = _pair(tmp_path, "turned", (40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    Image.new("RGB", (40, 30)).save(turned.image, exif=exif)
    cases = {
        turned: r"turned\.jpg: EXIF orientation 6",
        wrong_size: r"size\.png: mask is 30x40 but its photo size\.jpg is 40x30",
        outside: r"outside\.png: labels 7 outside the 3 classes",
        unreadable: r"broken\.jpg: unreadable photo",
    }
    for bad, message in cases.items():
        with pytest.raises(BadSample, match=message):
            check_samples([good, bad], 3)
    checked = check_samples([good, *cases], 3, skip_bad=True)
    assert [s.name for s in checked.samples] == ["good"]
    assert len(checked.skipped) == 4
    assert checked.labels == (frozenset({0, 1}),)


def test_an_empty_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmptySplit, match="empty"):
        check_samples([], 21)
    broken = _pair(tmp_path, "broken", (8, 8))
    broken.mask.write_bytes(b"")
    with pytest.raises(EmptySplit, match="all 1 were bad"):
        check_samples([broken], 21, skip_bad=True)
