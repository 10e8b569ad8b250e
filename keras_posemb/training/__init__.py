"""The trainers and what they share.

This module is the text classifier's trainer: `train(TrainConfig(...))` is
what `keras-posemb-train` runs. It checks every setting before reading any
data (`config`), refuses to resume a run made with other settings or data
(`resume`), sets up devices, precision and data parallelism (`runtime`),
trains with a checkpoint per epoch (a killed run resumes where it stopped,
exactly), keeps the best validation epoch (`session`), and writes the
model, the raw-text model, vocabulary, class names, metrics, TensorBoard
logs and plots. `language_model` and `images` are the other two trainers,
on NumPy pipelines (`session.run_session`); `schedule` is their planned
epochs and learning rates; `compare` trains every family and compares them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras

from keras_posemb import data as data_lib
from keras_posemb.runs import predict
from keras_posemb.runs.run import Run
from keras_posemb.training import resume, runtime
from keras_posemb.training.config import TrainConfig, field_choices, field_help, field_types
from keras_posemb.training.schedule import learning_rate_schedule, planned_epochs
from keras_posemb.training.session import (
    Session,
    build_model,
    load_data,
    report_finished,
    write_outputs,
)

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

# The lesson's pair: the same words, opposite labels on the built-in data set.
EXAMPLE_SENTENCES = ("the dog chased the cat", "the cat chased the dog")


def train(config: TrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains, evaluates and writes the run directory; returns the metrics.

    Rerunning the same config into the same directory after a kill resumes
    from the last completed epoch; rerunning a finished run returns its
    metrics and changes nothing; a config with other settings is refused.
    One process at a time writes a run directory (its lock), and a
    directory with files that are not a run's is refused (`run.Run`).
    """
    config.validate()
    run = Run(config.resolved_output_dir())
    log = print if config.verbose else (lambda *args, **kwargs: None)
    with run.locked():
        finished = resume.prepare_run(run, config)
        if finished is not None:
            report_finished(run, f"test accuracy {finished['test_accuracy']:.4f}", log)
            return finished
        metrics = _train(run, config, extra_callbacks, log)
    _report(config, run, metrics, log)
    return metrics


def _train(run, config, extra_callbacks, log):
    with runtime.process_settings(config):
        distribution = runtime.Distribution(config.strategy)
        policy, device = keras.config.dtype_policy().name, runtime.describe_devices()
        log(
            f"Training on {device} with {keras.backend.backend()}, "
            f"{distribution.replicas} replica(s), policy {policy}."
        )
        dataset = load_data(config)
        resume.record_settings(run, config, dataset.fingerprint())
        _warn_if_test_picks_the_epoch(config, log)
        with distribution.scope():
            session = Session(config, run, dataset, distribution, log)
            session.fit(extra_callbacks)
            metrics = session.evaluate()
            metrics.update(policy=policy, device=device, replicas=distribution.replicas)
            write_outputs(session, run, metrics)
    run.owner.remove(run.BACKUP)
    return metrics


def _warn_if_test_picks_the_epoch(config, log):
    files_given = config.validation_file and config.test_file
    if files_given and os.path.samefile(config.validation_file, config.test_file):
        log(
            "Warning: the validation file is the test file. It picks the best epoch, so the "
            "test accuracy is optimistic."
        )


def _report(config, run, metrics, log):
    kept = ""
    if metrics["best_epoch"] is not None:
        stop = " (stopped early)" if metrics["stopped_early"] else ""
        kept = f"Kept epoch {metrics['best_epoch']} of {metrics['epochs_trained']}{stop}, the best on validation. "
    log(
        f"\n{kept}Test accuracy {metrics['test_accuracy']:.4f}, validation accuracy "
        f"{metrics['val_accuracy']:.4f}; {metrics['train_seconds']:.1f} s of training, "
        f"{metrics['examples_per_second'] or 0:.0f} examples/s."
    )
    if config.dataset == data_lib.BUILT_IN:
        log("\nSame words, opposite labels: what the model says.")
        for line in predict.format_predictions(predict.predict_run(run, EXAMPLE_SENTENCES)):
            log(line)
    written = ", ".join(path.name + ("/" if path.is_dir() else "") for path in run.outputs())
    log(
        f"\nWrote {run.directory}/: {written}.\nSee training in TensorBoard: tensorboard --logdir {run.logs_dir}"
    )
