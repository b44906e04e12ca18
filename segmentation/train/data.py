"""The training input pipeline: ``tf.data`` from file paths to augmented batches.

decode (photo: ``tf.io.decode_image``; mask: the palette-aware reader) -> map labels to the
model's classes -> random scale (bilinear photo, nearest mask) -> pad to the crop side (mean
colour, void mask) -> random crop -> random left-right flip -> batch -> prefetch. Decoding
and augmentation run in parallel (``AUTOTUNE``) ahead of the accelerator.

The stream is a pure function of ``(seed, element index)``: the order of each epoch is a
seeded permutation and every random draw is stateless, seeded by the element's index. So a
run resumed at step ``s`` sees exactly the batches an uninterrupted run sees from step ``s``
(:func:`training_batches` ``start_step``), without replaying the skipped photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from segmentation.classes import VOID_LABEL
from segmentation.fcn8s import VGG_MEANS
from segmentation.train.checks import read_label_mask


def identity_label_map() -> tuple[int, ...]:
    return tuple(range(256))


def subset_label_map(source: Sequence[str], kept: Sequence[str]) -> tuple[int, ...]:
    """Label value in ``source`` -> index in ``kept`` (background first); classes not kept
    become background, void stays void."""
    position = {name: i for i, name in enumerate(kept)}
    table = [position.get(name, 0) for name in source]
    table += [VOID_LABEL] * (256 - len(table))
    table[VOID_LABEL] = VOID_LABEL
    return tuple(table)


def _read_mask(path: tf.Tensor) -> np.ndarray:
    return read_label_mask(Path(path.decode() if isinstance(path, bytes) else str(path)))


def load_pair(
    image_path: tf.Tensor, mask_path: tf.Tensor, label_map: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Decoded photo (uint8 [H, W, 3]) and its mask mapped to model classes (uint8 [H, W])."""
    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    mask = tf.numpy_function(_read_mask, [mask_path], tf.uint8, stateful=False)
    mask = tf.gather(label_map, tf.cast(mask, tf.int32))
    mask = tf.ensure_shape(mask, [None, None])
    image.set_shape([None, None, 3])
    return image, tf.cast(mask, tf.uint8)


def augment(
    image: tf.Tensor,
    mask: tf.Tensor,
    seed: tf.Tensor,
    *,
    crop: int,
    scales: tuple[float, float],
    flip: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random scale, pad, crop and flip of one pair: float32 [crop, crop, 3] (0..255 RGB)
    and int32 [crop, crop] labels, void where padded. ``seed`` is an int32 [2] tensor."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    scale = tf.random.stateless_uniform([], seeds[0], scales[0], scales[1])
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    new_size = tf.maximum(tf.cast(tf.round(size * scale), tf.int32), 1)
    image = tf.image.resize(tf.cast(image, tf.float32), new_size, method="bilinear")
    labels = tf.image.resize(mask[..., tf.newaxis], new_size, method="nearest")[..., 0]
    labels = tf.cast(labels, tf.int32)
    pad_h = tf.maximum(crop - new_size[0], 0)
    pad_w = tf.maximum(crop - new_size[1], 0)
    mean = tf.constant(VGG_MEANS, tf.float32)
    image = tf.pad(image - mean, [[0, pad_h], [0, pad_w], [0, 0]]) + mean
    labels = tf.pad(labels, [[0, pad_h], [0, pad_w]], constant_values=VOID_LABEL)
    stacked = tf.concat([image, tf.cast(labels[..., tf.newaxis], tf.float32)], axis=-1)
    stacked = tf.image.stateless_random_crop(stacked, [crop, crop, 4], seeds[1])
    if flip:
        stacked = tf.image.stateless_random_flip_left_right(stacked, seeds[2])
    return stacked[..., :3], tf.cast(stacked[..., 3], tf.int32)


def training_batches(
    images: Sequence[Path],
    masks: Sequence[Path],
    *,
    label_map: Sequence[int],
    batch_size: int,
    crop: int,
    scales: tuple[float, float],
    flip: bool = True,
    seed: int = 0,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Endless ``(images float32 [B, crop, crop, 3], labels int32 [B, crop, crop])`` batches,
    starting at batch ``start_step`` of the seeded stream."""
    count = len(images)
    if count == 0 or count != len(masks):
        raise ValueError(f"need as many masks as photos (and some): {count} vs {len(masks)}")
    paths = tf.constant([str(p) for p in images]), tf.constant([str(p) for p in masks])
    table = tf.constant(list(label_map), tf.int32)
    first = start_step * batch_size

    def order(epoch: tf.Tensor) -> tf.data.Dataset:
        keys = tf.random.stateless_uniform([count], tf.stack([seed, tf.cast(epoch, tf.int32)]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(keys))

    def element(position: tf.Tensor, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image, mask = load_pair(tf.gather(paths[0], index), tf.gather(paths[1], index), table)
        pair_seed = tf.stack([seed + 1, tf.cast(position, tf.int32)])
        return augment(image, mask, pair_seed, crop=crop, scales=scales, flip=flip)

    indices = tf.data.Dataset.range(first // count, 2**62).flat_map(order).skip(first % count)
    positions = tf.data.Dataset.range(first, 2**62)
    stream = tf.data.Dataset.zip((positions, indices))
    stream = stream.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return stream.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
