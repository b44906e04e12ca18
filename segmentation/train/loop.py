"""The training loop of one stage: Adam on the pixel-normalised cross-entropy.

State lives in a ``tf.train.Checkpoint`` (step, model, optimizer with its moments) written
every ``checkpoint_every`` steps by a ``CheckpointManager``; a run that finds a checkpoint
resumes from it (same step, same optimizer state, and, the data stream being a function of
the step, the same next batch) instead of initialising. Each checkpoint also refreshes the
model file (weights + metadata), so a stopped run leaves a usable model. TensorBoard gets
the loss, steps/s and validation mIoU; a Keras progress bar shows loss and steps/s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from segmentation.backends.trained import TrainedSegmenter
from segmentation.classes import VOID_LABEL
from segmentation.fcn import build_fcn
from segmentation.fcn8s import preprocess
from segmentation.train.config import TrainConfig
from segmentation.train.data import identity_label_map, training_batches
from segmentation.train.init import assign
from segmentation.trained import ModelInfo, paths_of, save_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InitialWeights:
    """Weights to start from (layer -> [kernel, bias]) and the class list they score."""

    weights: Mapping[str, Sequence[np.ndarray]]
    classes: tuple[str, ...] | None
    description: str


@dataclass(slots=True)
class RunResult:
    """What a finished run reports."""

    model_file: Path
    first_step: int
    steps: int
    losses: list[float] = field(default_factory=list)
    val_miou: list[tuple[int, float]] = field(default_factory=list)


def pixel_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Mean cross-entropy over the pixels that are not void (255): the seeds' loss,
    normalised by the number of pixels so that random rescaling does not change its scale."""
    logits = tf.cast(logits, tf.float32)
    valid = tf.not_equal(labels, VOID_LABEL)
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    weights = tf.cast(valid, tf.float32)
    return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    adam = keras.optimizers.Adam(learning_rate=config.learning_rate)
    return keras.optimizers.LossScaleOptimizer(adam) if config.mixed_precision else adam


class Trainer:
    """One stage's model, optimizer and checkpoint state."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        policy = keras.mixed_precision.global_policy()
        # Fresh layers (fc8, or all with --init none) draw from the run's seed.
        keras.utils.set_random_seed(config.seed)
        if config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            self.model = build_fcn(config.architecture, len(config.classes), config=config.config)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        self.optimizer = _optimizer(config)
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, model=self.model, optimizer=self.optimizer
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(config.checkpoints), max_to_keep=3
        )
        self._train_step = tf.function(self._step_fn, reduce_retracing=True)

    def restore_or_initialise(self, initial: Callable[[], InitialWeights | None]) -> bool:
        """Resume from the latest checkpoint (True), else take ``initial()``'s weights."""
        latest = self.manager.latest_checkpoint
        if latest is not None:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            logger.info("resumed from %s at step %d", latest, int(self.step.numpy()))
            return True
        start = initial()
        if start is not None:
            assign(
                self.model, start.weights, source_classes=start.classes, classes=self.config.classes
            )
        return False

    def _step_fn(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(preprocess(images), training=True)
            loss = pixel_cross_entropy(logits, labels)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        self.step.assign_add(1)
        return loss

    def train_step(self, images: tf.Tensor, labels: tf.Tensor) -> float:
        return float(self._train_step(images, labels))

    def save_checkpoint(self) -> str:
        return str(self.manager.save(checkpoint_number=self.step))

    def info(self, extra: Mapping[str, Any]) -> ModelInfo:
        config = self.config
        training = {
            "stage": config.architecture,
            "steps": int(self.step.numpy()),
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "crop": config.crop,
            "scales": list(config.scales),
            "data": dict(config.data_description),
            **extra,
        }
        return ModelInfo.of(config.architecture, config.classes, config.config, training)


def train(
    config: TrainConfig,
    images: Sequence[Path],
    masks: Sequence[Path],
    *,
    initial: Callable[[], InitialWeights | None] = lambda: None,
    validate: Callable[[TrainedSegmenter], float] | None = None,
    progress: bool = True,
) -> RunResult:
    """Train one stage to ``config.steps`` (resuming if a checkpoint exists); write the model
    file ``config.output`` + ``.model.json``/``.weights.h5`` and return what happened."""
    trainer = Trainer(config)
    resumed = trainer.restore_or_initialise(initial)
    first = int(trainer.step.numpy())
    init_note: dict[str, Any] = {"init": config.init}
    if resumed:
        init_note["resumed_at_step"] = first
    batches = training_batches(
        images,
        masks,
        label_map=config.label_map or identity_label_map(),
        batch_size=config.batch_size,
        crop=config.crop,
        scales=config.scales,
        flip=config.flip,
        seed=config.seed,
        start_step=first,
    )
    writer = tf.summary.create_file_writer(str(config.logs))
    bar = keras.utils.Progbar(
        config.steps, stateful_metrics=["loss", "steps/s", "val_mIoU"], verbose=1 if progress else 0
    )
    result = RunResult(model_file=paths_of(config.output)[0], first_step=first, steps=first)
    segmenter = TrainedSegmenter(trainer.model, config.classes, config.architecture)
    started, done = time.perf_counter(), 0
    logger.info("training %s from step %d to %d", config.architecture, first, config.steps)
    for images_batch, labels_batch in batches:
        step = int(trainer.step.numpy())
        if step >= config.steps:
            break
        loss = trainer.train_step(images_batch, labels_batch)
        step, done = step + 1, done + 1
        result.losses.append(loss)
        rate = done / max(time.perf_counter() - started, 1e-9)
        values: list[tuple[str, float]] = [("loss", loss), ("steps/s", rate)]
        with writer.as_default(step=step):
            if step % config.log_every == 0 or step == config.steps:
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("steps_per_second", rate)
            if (
                validate is not None
                and config.validate_every
                and (step % config.validate_every == 0 or step == config.steps)
            ):
                miou = validate(segmenter)
                tf.summary.scalar("val_mIoU", miou)
                result.val_miou.append((step, miou))
                values.append(("val_mIoU", miou))
        if step % config.checkpoint_every == 0 or step == config.steps:
            trainer.save_checkpoint()
            save_model(trainer.model, config.output, trainer.info(init_note))
        bar.update(step, values)
    writer.flush()
    result.steps = int(trainer.step.numpy())
    if result.steps == first:  # already complete: refresh the model file all the same
        save_model(trainer.model, config.output, trainer.info(init_note))
    return result
