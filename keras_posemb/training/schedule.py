"""How long a run trains, and its learning rate over the steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from keras_posemb.settings import TrainConfig

AUTO_EPOCH_STEPS, AUTO_EPOCH_RANGE = 3000, (3, 10)


def planned_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """`config.epochs`, or by default as many as make about 3,000 steps, 3 to 10.

    Why by data size: the learning rate decays over the planned epochs, so
    early stopping alone cannot shorten a schedule planned too long: a large
    data set wants few epochs, a few thousand sentences many (docs/results.md,
    Real data, has the measurements).
    """
    if config.epochs is not None:
        return config.epochs
    low, high = AUTO_EPOCH_RANGE
    return min(high, max(low, round(AUTO_EPOCH_STEPS / steps_per_epoch)))


def warmup_cosine(
    peak: float, total_steps: int, warmup_steps: int, final: float = 0.0
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warmup from 0 to `peak` over `warmup_steps`, then cosine decay
    to `final` over the rest of `total_steps`: every trainer's schedule."""
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=final / peak,
        warmup_target=peak if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def learning_rate_schedule(
    config: TrainConfig, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The text classifier's: warmup over `config.warmup_fraction` of the
    planned steps, then cosine decay to zero."""
    total = max(1, epochs * steps_per_epoch)
    return warmup_cosine(
        config.resolved_learning_rate(), total, int(total * config.warmup_fraction)
    )


def adamw_without_decay_on_vectors(model, learning_rate, weight_decay, **kwargs):
    """AdamW whose weight decay applies to matrices only: biases, norms'
    scales and other vectors are not pulled towards zero."""
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **kwargs)
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
    )
    return optimizer
