"""The trainers, on one skeleton.

`train(TrainConfig(...))` is what `keras-posemb-train` runs (the text
classifier, `text`); `language_model` and `images` are the other two
tasks. Each is a `session.TrainingSession` run by `session.run_session`:
every setting checked before any data is read (`config`), a run made with
other settings or data refused (`resume`), devices, precision and data
parallelism set up (`runtime`), a checkpoint per epoch or interval (a
killed run resumes where it stopped, exactly), the best validation epoch
kept, and the model, metrics, TensorBoard logs and plots written.
`schedule` is the planned epochs and learning rates; `compare` trains every
family and compares them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_posemb.settings import TrainConfig, field_choices, field_help, field_types
from keras_posemb.training.schedule import learning_rate_schedule, planned_epochs
from keras_posemb.training.session import run_session
from keras_posemb.training.text import TextSession, build_model, load_data

__all__ = [
    "TrainConfig",
    "build_model",
    "field_choices",
    "field_help",
    "field_types",
    "learning_rate_schedule",
    "load_data",
    "planned_epochs",
    "train",
]


def train(config: TrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains, evaluates and writes the run directory; returns the metrics.

    Rerunning the same config into the same directory after a kill resumes
    from the last completed epoch; rerunning a finished run returns its
    metrics and changes nothing; a config with other settings is refused.
    One process at a time writes a run directory (its lock), and a
    directory with files that are not a run's is refused (`run.Run`).
    """
    return run_session(config, extra_callbacks, TextSession, config.strategy)
