"""Training for real: a small FCN-8s learns synthetic scenes; the seeds' one-photo FCN-32s
experiment on their cat photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segmentation.backends.trained import TrainedSegmenter
from segmentation.fcn8s import Fcn8sConfig
from segmentation.train.config import TrainConfig
from segmentation.train.loop import train
from tests.segmentation.train.scenes import scene, write_scenes

SCENE_CLASSES = ("background", "disc", "square")
# A narrow FCN-8s (the same graph and skips as the seed's, 1-2 convs a block): ~1 min on CPU.
SMALL = Fcn8sConfig(
    widths=(16, 16, 32, 32, 32), convs_per_block=(2, 2, 2, 1, 1), fc_units=64, fc6_kernel=3
)


def iou_per_class(segmenter: TrainedSegmenter, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    inter, union = np.zeros(3), np.zeros(3)
    for _ in range(count):
        rgb, labels = scene(rng)
        pred = segmenter.predict(rgb).argmax(-1)
        for c in (1, 2):
            inter[c] += np.sum((pred == c) & (labels == c))
            union[c] += np.sum((pred == c) | (labels == c))
    return np.asarray(inter[1:] / union[1:])


@pytest.mark.slow
def test_a_small_fcn8s_learns_two_shape_classes(tmp_path: Path) -> None:
    images, masks = write_scenes(tmp_path / "train", 128, seed=1)
    config = TrainConfig(
        architecture="fcn8s",
        output=tmp_path / "out" / "fcn8s",
        classes=SCENE_CLASSES,
        init="none",
        steps=1500,
        batch_size=8,
        learning_rate=1e-3,
        crop=96,
        scales=(0.8, 1.25),
        checkpoint_every=1500,
        config=SMALL,
    )
    result = train(config, images, masks, progress=False)
    assert result.steps == 1500
    segmenter = TrainedSegmenter.load(result.model_file)
    assert segmenter.classes == SCENE_CLASSES
    iou = iou_per_class(segmenter, 20, seed=99)  # held-out scenes, never trained on
    print(f"held-out IoU disc {iou[0]:.3f}, square {iou[1]:.3f}")
    assert iou.min() >= 0.9


@pytest.mark.slow
def test_the_seeds_one_photo_experiment_lowers_the_loss(
    tmp_path: Path, shared_fixtures: Path
) -> None:
    """The seed post trains FCN-32s on one photo for 10 iterations (Adam, 1e-4). Full-size
    VGG-16 here, randomly initialised (ImageNet weights cannot be downloaded in the tests),
    on the photo at half size and 8 iterations to stay near a minute on a shared CPU."""
    folder = shared_fixtures / "seed_cat"
    mask = tmp_path / "cat.png"  # the seed's annotation is RGB with 0/1 values: as labels
    Image.fromarray(np.asarray(Image.open(folder / "cat_annotation.png"))[..., 0]).save(mask)
    config = TrainConfig(
        architecture="fcn32s",
        output=tmp_path / "fcn32s",
        classes=("background", "cat"),
        init="none",
        steps=8,
        learning_rate=1e-4,
        crop=256,
        scales=(0.5, 0.5),
        flip=False,
        checkpoint_every=10,
    )
    result = train(config, [folder / "cat.jpg"], [mask], progress=False)
    losses = result.losses
    print("seed-cat FCN-32s losses:", ", ".join(f"{v:.4f}" for v in losses))
    assert len(losses) == 8
    assert min(losses[-3:]) < losses[0]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
