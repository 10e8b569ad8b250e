"""The skeleton of every trainer: one run in a process, its model, checkpoints,
fit, evaluation and outputs (`TrainingSession`, `run_session`), and the
callbacks they share."""

from __future__ import annotations

import sys

import keras

from keras_posemb import _backend
from keras_posemb.analysis import summaries
from keras_posemb.errors import RunError
from keras_posemb.runs.checkpoints import EpochCheckpoints, InterruptBetweenSteps, StopOnNaN
from keras_posemb.runs.run import Run
from keras_posemb.training import resume, runtime


class TrainingSession:
    """One call of a trainer, the skeleton every task fills in: the data
    described, the model built and compiled with its optimizer, checkpoints
    per epoch (or interval), fit from the last checkpoint with the one
    callback list, evaluation, and the final files.

    A task subclasses it and gives:

    - `load(config, log)` (static): the data, with a `fingerprint()`;
    - `prepare()`: what the model and batches need (vectorizer, steps),
      after which `steps_per_epoch` and `epochs` are set; it also logs the
      data's description;
    - `build_model()`, `make_optimizer()`, `loss`, `metrics`;
    - `batches(epoch, step)`: training batches from `step` of `epoch` on;
      `validation_arguments()`: `fit`'s validation arguments;
    - `evaluate()`: the metrics; `save_task_files()`: the files besides the
      model, the projector and the plots;
    - `finished_summary(metrics)` and `report(config, run, metrics, log)` (static):
      what a finished run reached, and the end of a run.

    And may change: `unit` ("epoch" or "steps"), `monitor` and
    `higher_is_better` (the checkpoint that is kept), `curve_metric`,
    `summary_length` (positions in the summaries and plots), `trained_length`,
    `writes_projector`, `callbacks_before()`/`callbacks_after()` (around the
    checkpoints) and `should_stop()`.
    """

    unit, monitor, higher_is_better, curve_metric = "epoch", "val_accuracy", True, "accuracy"
    metrics: list | None = None  # Keras compile's default: the loss only.
    writes_projector = True
    steps_per_epoch: int
    epochs: int

    def __init__(self, config, run, data, log, distribution=None):
        self.config, self.run, self.data, self.log = config, run, data, log
        self.distribution = distribution or runtime.Distribution("default")
        # TensorBoard logs are written with TensorFlow, plots and the
        # summaries' images drawn with matplotlib: optional dependencies.
        self.writes_logs, self.draws = map(_backend.installed, ("tensorflow", "matplotlib"))
        self.writes_plots = config.plots and self.draws
        self.prepare()
        for note in self._missing_outputs():
            log(note)
        self.model = self.build_model()
        self.model.compile(
            optimizer=self.make_optimizer(),
            loss=self.loss,
            metrics=self.metrics,
            # JAX runs op by op otherwise, many times slower: it always compiles.
            jit_compile=config.jit_compile or keras.backend.backend() == "jax",
        )
        # Built now, so that a checkpoint restores the optimizer's state too.
        self.model.optimizer.build(self.model.trainable_variables)
        run.claim_training_files()
        self.checkpoints = EpochCheckpoints(run.backup_dir, self.monitor, self.higher_is_better)

    @property
    def summary_length(self) -> int:
        return self.config.max_length

    @property
    def trained_length(self) -> int:
        return self.config.max_length

    def _missing_outputs(self):
        if not self.writes_logs:
            install = _backend.install_command("tensorflow")
            yield f"No TensorBoard logs: TensorFlow writes them ({install})."
        if not self.draws and (self.config.plots or self.writes_logs):
            yield (
                "No plots, and no position images in TensorBoard: matplotlib draws them "
                f"({_backend.install_command('demos')})."
            )

    def callbacks_before(self) -> list:
        return []

    def callbacks_after(self) -> list:
        return []

    def should_stop(self) -> bool:
        return False

    def fit(self, extra_callbacks=()):
        """Trains from the last checkpoint on; ends with the best epoch's weights."""
        steps = self.steps_per_epoch
        restore(self.checkpoints, self.model, self.run, self.log, self.unit, steps)
        if not self.should_stop():
            if self.metrics and self.distribution.name == "default":
                build_compiled_metrics(self.model, self.batches(0, 0))
            callbacks = training_callbacks(
                self.checkpoints, self.run, self.summary_length, self.config.embed_dim,
                TrainingProgress(steps, self.epochs, self.unit), extra_callbacks,
                before=self.callbacks_before(), after=self.callbacks_after(),
                logs=self.writes_logs, images=self.draws,
            )  # fmt: skip
            fit_resumably(
                self.model, self.checkpoints, self.batches, steps, self.epochs, callbacks,
                verbose=fit_verbosity(self.config.verbose), **self.validation_arguments(),
            )  # fmt: skip
        self.checkpoints.restore_best(self.model)

    def save_outputs(self):
        """Every final file but metrics.json."""
        run, model, config = self.run, self.model, self.config
        run.save_model(model)
        self.save_task_files()
        if self.writes_projector:
            run.write_projector(
                summaries.position_tables(model, self.summary_length, config.embed_dim)
            )
        if self.writes_plots:
            history, kept = self.checkpoints.state["history"], self.checkpoints.best_epoch
            steps = self.steps_per_epoch if self.unit == "steps" else 1
            axis = "step" if self.unit == "steps" else "epoch"
            run.save_training_curves(history, self.curve_metric, axis, steps, kept)
            run.save_plots(model, self.summary_length, self.trained_length)


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
    checkpoints,
    run,
    length,
    width,
    progress,
    extra_callbacks,
    before=(),
    after=(),
    logs=True,
    images=True,
) -> list:
    """The callbacks of a training run, in the order they must run: NaN
    check (a NaN epoch is never saved), `before` (what adds to the logs),
    checkpoints, `after` (what reads them, such as patience), with `logs`
    TensorBoard and (with `images` too: they are drawn) the position
    summaries of `length` positions of `width`, progress, and the caller's
    own."""
    tensorboard = [keras.callbacks.TensorBoard(str(run.logs_dir), write_graph=False)]
    if images:
        tensorboard.append(summaries.PositionSummaries(str(run.logs_dir), length, width))
    return [
        StopOnNaN(),
        *before,
        checkpoints,
        *after,
        *(tensorboard if logs else []),
        progress,
        *extra_callbacks,
    ]  # fmt: skip


def restore(checkpoints, model, run, log, unit: str, steps_per_epoch: int) -> None:
    """Loads the run's checkpoint into `model`, and says where it resumes."""
    epochs = checkpoints.restore(model)
    step = epochs * steps_per_epoch + checkpoints.resumed_step
    if step:
        where = f"step {step:,}" if unit == "steps" else f"epoch {epochs}"
        if unit != "steps" and checkpoints.resumed_step:
            where = f"step {checkpoints.resumed_step:,} of epoch {epochs + 1}"
        log(f"Resuming {run.directory} after {where}.")


def build_compiled_metrics(model, batches) -> None:
    """Builds the compiled metrics from the first example of `batches`.

    Keras' TensorFlow trainer otherwise creates their variables inside its
    first traced train step, and TensorFlow traces a step that created
    variables a second time. (Under a distribution strategy Keras builds
    them itself.) Their values are reset before the first epoch.
    """
    if keras.backend.backend() != "tensorflow":
        return
    inputs, labels = next(iter(batches))[:2]
    inputs, labels = inputs[:1], labels[:1]
    model.compute_metrics(inputs, labels, model(inputs, training=False))
    model.reset_metrics()


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


def report_written(run, log, *next_steps: str) -> None:
    """The last lines of a run: the files written, `next_steps`, and how to
    see training in TensorBoard (where it was logged)."""
    written = ", ".join(path.name + ("/" if path.is_dir() else "") for path in run.outputs())
    lines = [f"\nWrote {run.directory}/: {written}.", *next_steps]
    if _backend.installed("tensorflow"):
        lines.append(f"See training in TensorBoard: tensorboard --logdir {run.logs_dir}")
    log("\n".join(lines))


def report_finished(run, summary: str, log) -> None:
    """Says that `run` is finished with these settings, and what it reached."""
    log(
        f"{run.directory} is a finished run with these settings ({summary}): nothing to "
        "train, and its files are left as they are. To train another run, use another "
        "--output-dir (output_dir= in Python)."
    )


def run_session(config, extra_callbacks, task: type[TrainingSession], strategy="default") -> dict:
    """What every trainer does with its run directory.

    Locked; a finished run returned as it is (`task.finished_summary` says
    what it reached); otherwise the data loaded (`task.load`) and its
    fingerprint recorded, the session (`task`) built under the `strategy`'s
    distribution, fitted, evaluated and saved, the metrics written last
    (they mark the run complete), and the end of the run reported
    (`task.report`).
    """
    config.validate()
    run = Run(config.resolved_output_dir())
    log = print if config.verbose else (lambda *args, **kwargs: None)
    with run.locked():
        finished = resume.prepare_run(run, config)
        if finished is not None:
            report_finished(run, task.finished_summary(finished), log)
            return finished
        with runtime.process_settings(config):
            distribution = runtime.Distribution(strategy)
            policy, device = keras.config.dtype_policy().name, runtime.describe_devices()
            log(
                f"Training on {device} with {keras.backend.backend()}, "
                f"{distribution.replicas} replica(s), policy {policy}."
            )
            data = task.load(config, log)
            resume.record_settings(run, config, data.fingerprint())
            with distribution.scope():
                session = task(config, run, data, log, distribution)
                session.fit(extra_callbacks)
                metrics = session.evaluate()
                metrics.update(policy=policy, device=device, replicas=distribution.replicas)
                write_outputs(session, run, metrics)
        run.owner.remove(run.BACKUP)
    task.report(config, run, metrics, log)
    return metrics
