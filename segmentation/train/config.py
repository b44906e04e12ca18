"""The options of a training run (a frozen dataclass), with the seeds' recipe as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segmentation.classes import VOC_CLASSES
from segmentation.fcn import ARCHITECTURES, check_architecture
from segmentation.fcn8s import SEED_CONFIG, Fcn8sConfig
from segmentation.train.recipe import (
    DEFAULT_CROP,
    DEFAULT_LEARNING_RATE,
    DEFAULT_SCALES,
    INIT_VGG16,
    RECIPE_STEPS,
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One stage's training run.

    ``classes`` is the model's class list (background first); ``label_map`` maps each label
    value of the dataset's masks (0..255) to a model class (or 255, ignored), e.g. VOC's to a
    ``--classes cat,dog`` subset; ``None`` keeps the labels as they are.
    """

    architecture: str
    output: Path
    classes: tuple[str, ...] = VOC_CLASSES
    label_map: tuple[int, ...] | None = None
    init: str = INIT_VGG16
    steps: int = RECIPE_STEPS
    batch_size: int = 1
    learning_rate: float = DEFAULT_LEARNING_RATE
    crop: int = DEFAULT_CROP
    scales: tuple[float, float] = DEFAULT_SCALES
    flip: bool = True
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 10
    validate_every: int = 0
    mixed_precision: bool = False
    config: Fcn8sConfig = SEED_CONFIG
    checkpoint_dir: Path | None = None
    log_dir: Path | None = None
    data_description: dict[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        check_architecture(self.architecture)
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch size and checkpoint interval must be positive")
        if self.crop < 32 or self.crop % 32:
            raise ValueError(f"the crop side must be a positive multiple of 32, got {self.crop}")
        if not 0 < self.scales[0] <= self.scales[1]:
            raise ValueError(f"invalid scale range {self.scales}")
        if self.learning_rate <= 0:
            raise ValueError(f"the learning rate must be positive, got {self.learning_rate}")
        if self.label_map is not None and len(self.label_map) != 256:
            raise ValueError("a label map has one entry per byte value (256)")

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.output.parent / "checkpoints" / self.output.name

    @property
    def logs(self) -> Path:
        return self.log_dir or self.output.parent / "logs" / self.output.name


def previous_stage(architecture: str) -> str | None:
    """The stage a stage starts from in the recipe (``None`` for FCN-32s: ImageNet VGG-16)."""
    index = ARCHITECTURES.index(check_architecture(architecture))
    return ARCHITECTURES[index - 1] if index else None
