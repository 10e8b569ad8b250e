"""How long a run trains, and its learning rate over the steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from keras_posemb.training.config import TrainConfig

AUTO_EPOCH_STEPS, AUTO_EPOCH_RANGE = 3000, (3, 10)


def planned_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """`config.epochs`, or by default as many as make about 3,000 steps, 3 to 10.

    Why by data size: the learning rate decays over the planned epochs, so
    early stopping alone cannot shorten a schedule planned too long. On
    SST-2 (950 steps an epoch) ten epochs stop, at best, at a high learning
    rate and an overfit model (78.9% dev accuracy against 81% with three);
    on a few thousand sentences ten epochs are only a few hundred steps.
    """
    if config.epochs is not None:
        return config.epochs
    low, high = AUTO_EPOCH_RANGE
    return min(high, max(low, round(AUTO_EPOCH_STEPS / steps_per_epoch)))


def learning_rate_schedule(
    config: TrainConfig, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warmup to `learning_rate`, then cosine decay to zero."""
    total = max(1, epochs * steps_per_epoch)
    warmup = int(total * config.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.resolved_learning_rate(),
        decay_steps=max(1, total - warmup),
        warmup_target=config.resolved_learning_rate() if warmup else None,
        warmup_steps=warmup,
    )
