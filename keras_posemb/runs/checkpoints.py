"""Checkpoints that survive any kill or full disk, the best epoch's weights,
and the callbacks that end a run early: patience, a NaN loss, and Ctrl-C or
SIGTERM (which save where the epoch stands, step by step).

`EpochCheckpoints` replaces `keras.callbacks.BackupAndRestore`, which
rewrites `latest.weights.h5` in place: a kill during that write leaves a torn
file that every later run fails to open, and a write that fails inside h5py
(a full disk) leaves an open HDF5 handle that crashes the process later.
Here each epoch's variables (model, optimizer and the dropout layers'
random-number states, which `save_weights` leaves out) are serialized in
memory with NumPy, then written to a new file under a temporary name and
renamed (`files.replacing`). Only then does `state.json`, itself replaced
atomically, name the new file, and only then are files it no longer names
removed. A kill at any moment leaves `state.json` naming complete files,
whose SHA-256 it records, so a file damaged later is detected, not loaded.

`state.json` also records the training curve and the best epoch (highest
validation accuracy, or lowest validation loss, the earlier epoch on ties), whose file is kept: a
resumed run continues exactly where the killed one stopped and still ends
with the best epoch's weights. `PlateauPatience` decides from that curve,
so it needs no state of its own. It records the seconds of training too,
so the time and throughput of a run add up over its processes.

An interrupted epoch (`InterruptBetweenSteps`: Ctrl-C or SIGTERM) is saved
as `partial.npz` after the last step that ended, with the running values
of the epoch's metrics: the next run trains the rest of that epoch
(`resumed_step`), and ends as an uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np

from keras_posemb import files
from keras_posemb.errors import RunError, Setting, TrainingError

STATE = "state.json"
PARTIAL = "partial.npz"
# Every file an `EpochCheckpoints` writes in its folder (`fnmatch` patterns).
FILE_PATTERNS = (STATE, "epoch-*.npz", PARTIAL)
TORCH_RANDOM_STATE = "torch_random_state"
METRIC = "metric_{}"
MONITOR = "val_accuracy"


def _variables(model) -> list:
    """Every variable a resumed run needs, in a fixed order.

    By position, not by path: automatic names (`seed_generator_3`,
    `adamw_1`) change with what else the process built.
    """
    return [*model.variables, *model.optimizer.variables]


def serialize(model, with_metrics: bool = False) -> bytes:
    """The model's and optimizer's variables as the bytes of an `.npz` file,
    with PyTorch's global random state, which its unseeded dropout uses, and
    with `with_metrics` the metrics' running values (an unfinished epoch's)."""
    if keras.backend.backend() == "jax":  # Its training loop holds them apart during an epoch.
        model.jax_state_sync()
    arrays = [np.asarray(v.numpy()) for v in _variables(model)]
    extra = {}
    if with_metrics:
        extra = {
            METRIC.format(i): np.asarray(v.numpy()) for i, v in enumerate(model.metrics_variables)
        }
    if keras.backend.backend() == "torch":
        import torch

        extra[TORCH_RANDOM_STATE] = torch.get_rng_state().numpy()
    buffer = io.BytesIO()
    np.savez(buffer, *arrays, **extra)
    return buffer.getvalue()


def deserialize(model, content: bytes) -> list[np.ndarray]:
    """Assigns variables saved by `serialize` to `model` (built, compiled);
    returns the metrics' values if they were saved (else `[]`), for the
    epoch that resumes to assign once its metrics are reset."""
    variables = _variables(model)
    with np.load(io.BytesIO(content)) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(variables)) if f"arr_{i}" in saved.files]
        random_state = saved[TORCH_RANDOM_STATE] if TORCH_RANDOM_STATE in saved.files else None
        metrics = [saved[name] for name in _metric_names(saved.files)]
    if [a.shape for a in arrays] != [tuple(v.shape) for v in variables]:
        raise ValueError("it holds other variables than this model has")
    for variable, array in zip(variables, arrays):
        variable.assign(array)
    if random_state is not None and keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(random_state))
    return metrics


def _metric_names(names) -> list[str]:
    count = sum(1 for name in names if name.startswith(METRIC.format("")))
    return [METRIC.format(i) for i in range(count)]


class EpochCheckpoints(keras.callbacks.Callback):
    """Writes a resumable checkpoint after every epoch and keeps the best one.

    Call `restore(model)` before `fit` to resume, and `restore_best(model)`
    after it to end with the best epoch's weights. `state` holds the
    training curve (`history`), the best and latest checkpoints, the
    seconds trained (`train_seconds`, every process's) and an interrupted
    epoch (`partial`, see `save_partial`).

    Args:
        directory: the run's `backup/` folder.
        monitor: the log entry that picks the best epoch.
        higher_is_better: whether a higher `monitor` is better (accuracy)
            or a lower one (a loss).
    """

    def __init__(
        self, directory: str | os.PathLike, monitor: str = MONITOR, higher_is_better: bool = True
    ):
        super().__init__()
        self.directory = Path(directory)
        self.monitor, self.sign = monitor, 1.0 if higher_is_better else -1.0
        self.state = {"epoch": 0, "history": [], "best": None, "train_seconds": 0.0}
        # Steps of the epoch `restore` resumes in the middle of, and its metrics.
        self.resumed_step, self._resumed_metrics = 0, []
        self.epochs_this_run = 0
        self._offset = self._steps = 0
        self._started = self._carried = 0.0

    @property
    def best_epoch(self) -> int | None:
        best = self.state["best"]
        return best and best["epoch"]

    @property
    def train_seconds(self) -> float:
        """Seconds of training (validation included) of every epoch and part
        of one saved so far, over all the processes of the run."""
        return self.state.get("train_seconds", 0.0)

    def restore(self, model) -> int:
        """Loads the last checkpoint into `model`; returns the epochs done (0
        if none). An interrupted epoch's steps are `resumed_step` then.

        Raises:
            RunError: when the checkpoint is damaged, with what to do.
        """
        path = self.directory / STATE
        if not path.exists():
            return 0
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            entry = state.get("partial") or state["latest"]
        except (OSError, ValueError, KeyError, AttributeError) as error:
            raise self._damaged(path, error) from None
        metrics = self._load(model, entry)
        self.state = {"train_seconds": 0.0, **state}
        if state.get("partial"):
            self.resumed_step, self._resumed_metrics = entry["step"], metrics
        return state["epoch"]

    def restore_best(self, model) -> None:
        best = self.state["best"]
        if best is not None and best != self.state.get("latest"):
            self._load(model, best)

    def _load(self, model, entry):
        path = self.directory / entry["file"]
        try:
            content = path.read_bytes()
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise ValueError("its contents differ from what was written")
            return deserialize(model, content)
        except (OSError, ValueError) as error:
            raise self._damaged(path, error) from None

    def _damaged(self, path, reason):
        return RunError(
            f"The checkpoint {path} is damaged or missing ({reason}), so the run cannot "
            "resume. Start it afresh with ", Setting("overwrite", True), " or use another ",
            Setting("output_dir"), ".",
        )  # fmt: skip

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._offset, self._carried = time.perf_counter(), 0, 0.0
        partial = self.state.get("partial")
        if partial and epoch == partial["epoch"]:  # The rest of an interrupted epoch.
            for variable, value in zip(self.model.metrics_variables, self._resumed_metrics):
                variable.assign(value)
            self._offset, self._carried = partial["step"], partial["seconds"]
        self._steps = self._offset

    def on_train_batch_end(self, batch, logs=None):
        self._steps = self._offset + batch + 1

    def _seconds(self) -> float:
        """This epoch's seconds so far, its interrupted part's included."""
        return self._carried + time.perf_counter() - self._started

    def save_partial(self) -> int:
        """Saves the epoch in progress after its last completed step: the
        variables and the metrics' running values; returns that step (0:
        nothing to save, the epoch had not started)."""
        if self._steps == 0:
            return 0
        epoch, state = self.state["epoch"], self.state
        content = serialize(self.model, with_metrics=True)
        entry = self._write(epoch, PARTIAL, content)
        state["partial"] = {
            **entry,
            "epoch": epoch,
            "step": self._steps,
            "seconds": self._seconds(),
        }
        self._write(epoch, STATE, json.dumps(state, indent=2).encode("utf-8"))
        return self._steps

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        done = epoch + 1
        entry = self._write(done, f"epoch-{done}.npz", serialize(self.model))
        state = self.state
        state["history"].append({"epoch": done, **logs})
        score = logs.get(self.monitor, -self.sign * math.inf)
        best = state["best"]
        if best is None or self.sign * score > self.sign * best[self.monitor]:  # Ties: earlier.
            state["best"] = {**entry, self.monitor: score}
        state["train_seconds"] = self.train_seconds + self._seconds()
        state.update(epoch=done, latest=entry, partial=None)
        self._write(done, STATE, json.dumps(state, indent=2).encode("utf-8"))
        for path in self.directory.glob("*.npz"):
            if path.name not in (state["latest"]["file"], state["best"]["file"]):
                path.unlink()
        self.epochs_this_run += 1

    def _write(self, epoch, name, content):
        """Writes `content` to `name` atomically; a failure (a full disk) stops
        the run with one line and leaves the last checkpoint as it was."""
        try:
            with files.replacing(self.directory / name) as temporary:
                Path(temporary).write_bytes(content)
        except OSError as error:
            kept = (
                f"the checkpoint of epoch {epoch - 1} is intact"
                if epoch > 1
                else "no checkpoint was written yet"
            )
            raise RunError(
                f"Could not write the checkpoint of epoch {epoch} to {self.directory} "
                f"({error.strerror or error}); {kept}. Free some space and rerun the same "
                "command to resume.",
            ) from None  # fmt: skip
        return {"epoch": epoch, "file": name, "sha256": hashlib.sha256(content).hexdigest()}


class PlateauPatience(keras.callbacks.Callback):
    """Stops training after `patience` epochs without a better validation accuracy.

    Reads the curve and the best epoch from the `EpochCheckpoints` it is
    given (after it in the callback list), so a resumed run decides exactly
    as the killed one would have. The count starts at the first epoch that
    beats the first one by more than one standard error of the validation
    accuracy: until then the run is on a plateau, not overfitting (a learned
    position table stays at chance on the built-in data set for several
    epochs, with gains of a few examples in 2,000 that are noise, then
    learns).

    Args:
        checkpoints: the run's `EpochCheckpoints`.
        patience: epochs to wait; 0 never stops early.
        validation_size: examples in the validation set, for the standard
            error `sqrt(p (1 - p) / n)` at the first epoch's accuracy `p`;
            `None` counts any gain.
    """

    def __init__(self, checkpoints: EpochCheckpoints, patience: int, validation_size=None):
        super().__init__()
        self.checkpoints = checkpoints
        self.patience = patience
        self.validation_size = validation_size

    def should_stop(self, planned_epochs: int) -> bool:
        """Whether the curve so far ends the run before `planned_epochs`."""
        state = self.checkpoints.state
        if not self.patience or not state["history"] or state["epoch"] >= planned_epochs:
            return False
        waited = state["epoch"] - state["best"]["epoch"]
        return self._left_the_plateau() and waited >= self.patience

    def _left_the_plateau(self):
        """Whether the best epoch beats the first by more than noise."""
        state = self.checkpoints.state
        first = state["history"][0].get(MONITOR, -math.inf)
        noise = 0.0
        if self.validation_size and 0 <= first <= 1:
            noise = math.sqrt(first * (1 - first) / self.validation_size)
        return state["best"][MONITOR] > first + noise

    def on_epoch_end(self, epoch, logs=None):
        if self.should_stop(self.params.get("epochs", math.inf)):
            self.model.stop_training = True


class StopOnNaN(keras.callbacks.Callback):
    """Ends the run with a `TrainingError` when an epoch's loss is not finite
    (before that epoch's checkpoint, so the last good one stays)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingError(
                f"The training loss became {loss} in epoch {epoch + 1}; the checkpoint of "
                "the epoch before is kept. Try a lower ", Setting("learning_rate"),
                " and start afresh with ", Setting("overwrite", True), ".",
            )  # fmt: skip


class Interrupted(KeyboardInterrupt):
    """Training ended by a signal (`signum`: SIGINT for Ctrl-C, or SIGTERM)
    between two steps, after saving what a rerun resumes from."""

    def __init__(self, signum: int, step: int | None = None):
        super().__init__(signum, step)
        self.signum, self.step = signum, step


class InterruptBetweenSteps(keras.callbacks.Callback):
    """Ctrl-C or SIGTERM during `fit` ends training after the step in
    progress: the epoch so far is saved (`EpochCheckpoints.save_partial`)
    and `Interrupted` is raised; a second signal raises it at once.

    Python raises `KeyboardInterrupt` wherever the main thread is when the
    signal arrives; inside TensorFlow's step function (which calls back into
    Python for the input pipeline) that can surface as a `SystemError` from
    CPython's internals instead, and the command ends with a traceback.
    Used as a context manager around `fit`, this records the signal and
    acts after the current batch. A signal during validation waits for the
    epoch's end, whose checkpoint is then complete.

    Args:
        checkpoints: the run's `EpochCheckpoints`, which save the epoch so far.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpoints: EpochCheckpoints | None = None):
        super().__init__()
        self.checkpoints = checkpoints
        self.pending, self._previous = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Else signals are not ours.
            self._previous = {s: signal.signal(s, self._record) for s in self.SIGNALS}
        return self

    def __exit__(self, *exception):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _record(self, signum, frame):
        if self.pending is not None:
            raise Interrupted(signum)
        self.pending = signum

    def on_train_batch_end(self, batch, logs=None):
        if self.pending is not None:
            step = self.checkpoints.save_partial() if self.checkpoints else None
            raise Interrupted(self.pending, step)

    def on_epoch_end(self, epoch, logs=None):
        if self.pending is not None:
            raise Interrupted(self.pending)
