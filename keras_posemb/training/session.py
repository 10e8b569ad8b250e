"""One training run in a process: pipelines, model, checkpoints, fit, evaluation, outputs."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import TYPE_CHECKING

import keras

from keras_posemb import data as data_lib
from keras_posemb import models
from keras_posemb._memory import check_fits
from keras_posemb.analysis import summaries
from keras_posemb.errors import RunError
from keras_posemb.runs import serving
from keras_posemb.runs.checkpoints import (
    EpochCheckpoints,
    InterruptBetweenSteps,
    PlateauPatience,
    StopOnNaN,
)
from keras_posemb.runs.run import Run
from keras_posemb.training import resume, runtime
from keras_posemb.training.schedule import learning_rate_schedule, planned_epochs

if TYPE_CHECKING:
    from keras_posemb.training.config import TrainConfig


def _arguments_from(config, function, **given) -> dict:
    """`given`, and every other parameter of `function` that `config` has a
    field of the same name for: a new setting reaches the model or the
    data loader without being forwarded by hand."""
    names = {field.name for field in dataclasses.fields(config)}
    parameters = inspect.signature(function).parameters
    chosen = {name: getattr(config, name) for name in parameters if name in names}
    return {**chosen, **given}


def build_model(config: TrainConfig, vocab_size: int, num_classes: int) -> keras.Model:
    return models.build_text_classifier(
        **_arguments_from(
            config, models.build_text_classifier, vocab_size=vocab_size, num_classes=num_classes
        )
    )


def load_data(config: TrainConfig) -> data_lib.TextData:
    dataset = data_lib.load_dataset(**_arguments_from(config, data_lib.load_dataset))
    check_attention_memory(config, dataset)
    return dataset


# Tensors of (batch, heads, query, key) floats that one attention layer keeps
# for the backward pass: logits, softmax weights, dropout mask, a gradient.
ATTENTION_TENSORS = 4


def check_attention_memory(config: TrainConfig, dataset: data_lib.TextData) -> None:
    """Refuses, before training, batches whose attention cannot fit in memory.

    The longest batch holds the longest training text (in words, at most
    `max_length`); each layer keeps `ATTENTION_TENSORS` float32 tensors of
    `(batch, heads, length, length)` for the backward pass.
    """
    longest = max(len(text.split()) for text in dataset.train.texts)
    length = min(config.max_length, longest)
    needed = 4 * ATTENTION_TENSORS * config.num_layers * config.batch_size
    needed *= config.num_heads * length**2
    check_fits(
        "max_length", config.max_length, needed,
        f"attention over {length:,} tokens in batches of {config.batch_size}",
    )  # fmt: skip


class Session:
    """One call of `train`: the data pipelines, the model and its checkpoints."""

    def __init__(self, config, run, dataset, distribution, log):
        self.config, self.run, self.dataset, self.log = config, run, dataset, log
        self.vectorizer = data_lib.make_vectorizer(dataset.train.texts, config.vocab_size)
        batch_size = config.batch_size * distribution.replicas
        multiple = distribution.batch_multiple
        self.held_out = {
            name: data_lib.make_pipeline(
                split, self.vectorizer, config.max_length, batch_size, multiple
            )
            for name, split in [("validation", dataset.validation), ("test", dataset.test)]
        }
        self.batches = data_lib.TrainingBatches(
            dataset.train, self.vectorizer, config.max_length, batch_size, config.seed, multiple
        )
        log(
            f"Data set {config.dataset!r}: {len(dataset.train):,} training, "
            f"{len(dataset.validation):,} validation and {len(dataset.test):,} test examples; "
            f"{len(dataset.class_names)} classes; "
            f"vocabulary {self.vectorizer.vocabulary_size()}."
        )
        self.model = build_model(
            config, self.vectorizer.vocabulary_size(), len(dataset.class_names)
        )
        self.epochs = planned_epochs(config, self.batches.steps_per_epoch)
        schedule = learning_rate_schedule(config, self.batches.steps_per_epoch, self.epochs)
        self.model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
            # Divided by the sample weights' sum: rows that only pad a batch
            # for data parallelism (weight 0) do not dilute it.
            loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
            metrics=["accuracy"],
            # JAX runs op by op otherwise, many times slower: it always compiles.
            jit_compile=config.jit_compile or keras.backend.backend() == "jax",
        )
        # Built now, so that a checkpoint restores the optimizer's state too.
        self.model.optimizer.build(self.model.trainable_variables)
        run.claim_training_files()
        self.checkpoints = EpochCheckpoints(run.backup_dir)
        self.patience = PlateauPatience(self.checkpoints, config.patience, len(dataset.validation))

    def fit(self, extra_callbacks):
        """Trains from the last checkpoint on; ends with the best epoch's weights."""
        config, steps = self.config, self.batches.steps_per_epoch
        restore(self.checkpoints, self.model, self.run, self.log, "epoch", steps)
        if not self.patience.should_stop(self.epochs):
            fit_resumably(
                self.model, self.checkpoints,
                lambda epoch, step: self.batches.epochs(epoch, self.epochs, step),
                steps, self.epochs,
                training_callbacks(
                    self.checkpoints, self.run, config.max_length, config.embed_dim,
                    TrainingProgress(steps, self.epochs), extra_callbacks, after=[self.patience],
                ),
                validation_data=self.held_out["validation"],
                verbose=fit_verbosity(config.verbose),
            )  # fmt: skip
        self.checkpoints.restore_best(self.model)

    def evaluate(self) -> dict:
        config, dataset, state = self.config, self.dataset, self.checkpoints.state
        results = {
            name: self.model.evaluate(pipeline, verbose=0, return_dict=True)
            for name, pipeline in self.held_out.items()
        }
        seconds = self.checkpoints.train_seconds
        return {
            "dataset": dataset.name,
            "position": config.position,
            "backend": keras.backend.backend(),
            "class_names": dataset.class_names,
            "train_examples": len(dataset.train),
            "longest_train_tokens": self.batches.longest,
            "validation_examples": len(dataset.validation),
            "test_examples": len(dataset.test),
            "val_accuracy": results["validation"]["accuracy"],
            "test_accuracy": results["test"]["accuracy"],
            "test_loss": results["test"]["loss"],
            "epochs": self.epochs,
            "epochs_trained": state["epoch"],
            "epochs_this_run": self.checkpoints.epochs_this_run,
            "best_epoch": self.checkpoints.best_epoch,
            "stopped_early": self.patience.should_stop(self.epochs),
            "validation_curve": [
                {key: entry[key] for key in ("epoch", "val_accuracy", "val_loss") if key in entry}
                for entry in state["history"]
            ],
            "train_seconds": seconds,
            "examples_per_second": (
                len(dataset.train) * state["epoch"] / seconds if seconds else None
            ),
            "seed": config.seed,
            "jit_compile": config.jit_compile,
            "config": dataclasses.asdict(config),
        }

    def save_outputs(self):
        """Every final file but metrics.json."""
        run, model = self.run, self.model
        run.save_model(model)
        run.write_vocabulary(self.vectorizer.get_vocabulary())
        run.write_classes(self.dataset.class_names)
        if keras.backend.backend() == "tensorflow":  # TextVectorization runs TensorFlow ops.
            run.save_text_model(serving.build_string_classifier(model, self.vectorizer))
        config = self.config
        tables = summaries.position_tables(model, config.max_length, config.embed_dim)
        run.write_projector(tables)
        if self.config.plots:
            history, kept = self.checkpoints.state["history"], self.checkpoints.best_epoch
            run.save_training_curves(history, "accuracy", kept=kept)
            run.save_plots(model, self.config.max_length, self.batches.longest)


def fit_verbosity(verbose: int) -> int:
    """`verbose` for `fit`: a progress bar only on a terminal. Elsewhere (a
    file, a pipe, CI) a bar is redrawn at every step, so it is one line
    per epoch there."""
    return 2 if verbose == 1 and not sys.stdout.isatty() else verbose


class TrainingProgress(keras.callbacks.ProgbarLogger):
    """Keras' progress bar (or line) under a header that names the unit:
    "Epoch 3/10", or for the language model's evaluation intervals
    "Steps 501-750 of 2,000"; an epoch resumed in its middle says from which
    step.

    Args:
        steps_per_epoch: the steps of a whole epoch (or interval).
        epochs: the epochs (or intervals) of the whole run.
        unit: "epoch" or "steps".
    """

    def __init__(self, steps_per_epoch: int, epochs: int, unit: str = "epoch"):
        super().__init__()
        self.steps_per_epoch, self.planned_epochs, self.unit = steps_per_epoch, epochs, unit

    def on_epoch_begin(self, epoch, logs=None):
        epochs, self.epochs = self.epochs, 1  # Keras prints no header of its own then.
        super().on_epoch_begin(epoch, logs)
        self.epochs = epochs
        if self.verbose:
            print(self.header(epoch, self.target))

    def header(self, epoch: int, steps: int) -> str:
        """The header of `epoch` (from 0) trained for `steps` of its steps."""
        whole, epochs = self.steps_per_epoch, self.planned_epochs
        first = whole - steps + 1  # Of this epoch.
        if self.unit == "steps":
            return f"Steps {epoch * whole + first:,}-{(epoch + 1) * whole:,} of {epochs * whole:,}"
        resumed = f" (from step {first:,} of {whole:,})" if first > 1 else ""
        return f"Epoch {epoch + 1}/{epochs}{resumed}"


def training_callbacks(
    checkpoints, run, length, width, progress, extra_callbacks, before=(), after=()
) -> list:
    """The callbacks of a training run, in the order they must run: NaN
    check (a NaN epoch is never saved), `before` (what adds to the logs),
    checkpoints, `after` (what reads them, such as patience), TensorBoard,
    the position summaries of `length` positions of `width`, progress, and
    the caller's own."""
    return [
        StopOnNaN(),
        *before,
        checkpoints,
        *after,
        keras.callbacks.TensorBoard(str(run.logs_dir), write_graph=False),
        summaries.PositionSummaries(str(run.logs_dir), length, width),
        progress,
        *extra_callbacks,
    ]


def restore(checkpoints, model, run, log, unit: str, steps_per_epoch: int) -> None:
    """Loads the run's checkpoint into `model`, and says where it resumes."""
    epochs = checkpoints.restore(model)
    step = epochs * steps_per_epoch + checkpoints.resumed_step
    if step:
        where = f"step {step:,}" if unit == "steps" else f"epoch {epochs}"
        if unit != "steps" and checkpoints.resumed_step:
            where = f"step {checkpoints.resumed_step:,} of epoch {epochs + 1}"
        log(f"Resuming {run.directory} after {where}.")


def fit_resumably(model, checkpoints, batches, steps_per_epoch, epochs, callbacks, **fit_arguments):
    """`model.fit` from where the restored `checkpoints` stand to `epochs`: an
    interrupted epoch's remaining steps first, in a fit of their own, then
    whole epochs. `batches(epoch, step)` gives the training batches from
    step `step` of epoch `epoch` to the end. Ctrl-C and SIGTERM end it
    after the step in progress (`InterruptBetweenSteps`, the last callback,
    so that an epoch that ended is saved before it raises)."""
    interrupt = InterruptBetweenSteps(checkpoints)
    callbacks = [*callbacks, interrupt]
    epoch, step = checkpoints.state["epoch"], checkpoints.resumed_step
    parts = [(step, epoch + 1), (0, epochs)] if step else [(0, epochs)]
    with interrupt:
        for first_step, last_epoch in parts:
            if epoch >= last_epoch or model.stop_training:
                break
            model.fit(
                batches(epoch, first_step),
                steps_per_epoch=steps_per_epoch - first_step,
                epochs=last_epoch,
                initial_epoch=epoch,
                callbacks=callbacks,
                shuffle=False,  # Each epoch's batches come shuffled, reproducibly.
                **fit_arguments,
            )
            epoch = checkpoints.state["epoch"]


def write_outputs(session, run, metrics: dict) -> None:
    """The run's final files, metrics.json last (it marks the run complete).

    Raises:
        RunError: when a write fails (a full disk): the checkpoints stay,
            so that a rerun writes the files again without training.
    """
    try:
        session.save_outputs()
        run.write_metrics(metrics)
    except OSError as error:
        raise RunError(
            f"Could not write the run's final files in {run.directory} "
            f"({error.strerror or error}); its checkpoints are intact. Free some space and "
            "rerun the same command to write them."
        ) from None


def report_finished(run, summary: str, log) -> None:
    """Says that `run` is finished with these settings, and what it reached."""
    log(
        f"{run.directory} is a finished run with these settings ({summary}): nothing to "
        "train, and its files are left as they are. To train another run, use another "
        "--output-dir (output_dir= in Python)."
    )


def run_session(config, extra_callbacks, load, make_session, finished_summary, report) -> dict:
    """What a NumPy-pipeline trainer does with a run directory (images, language
    models): locked, a finished run returned as it is, otherwise the data
    loaded and fingerprinted, `make_session(config, run, data, log)` fitted,
    evaluated and saved, and the metrics written last (they mark the run
    complete). `finished_summary(metrics)` says what a finished run reached;
    `report(run, metrics, log)` prints the end of a run."""
    config.validate()
    run = Run(config.resolved_output_dir())
    log = print if config.verbose else (lambda *args, **kwargs: None)
    with run.locked():
        finished = resume.prepare_run(run, config)
        if finished is not None:
            report_finished(run, finished_summary(finished), log)
            return finished
        with runtime.process_settings(config):
            data = load(config)
            resume.record_settings(run, config, data.fingerprint())
            session = make_session(config, run, data, log)
            session.fit(extra_callbacks)
            metrics = session.evaluate()
            write_outputs(session, run, metrics)
        run.owner.remove(run.BACKUP)
    report(run, metrics, log)
    return metrics
