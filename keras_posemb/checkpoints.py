"""Checkpoints that survive any kill or full disk, the best epoch's weights,
and the callbacks that end a run early: patience, a NaN loss and Ctrl-C.

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
so it needs no state of its own.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import threading
from pathlib import Path

import keras
import numpy as np

from keras_posemb import files
from keras_posemb.errors import RunError, Setting, TrainingError

STATE = "state.json"
# Every file an `EpochCheckpoints` writes in its folder (`fnmatch` patterns).
FILE_PATTERNS = (STATE, "epoch-*.npz")
TORCH_RANDOM_STATE = "torch_random_state"
MONITOR = "val_accuracy"


def _variables(model) -> list:
    """Every variable a resumed run needs, in a fixed order.

    By position, not by path: automatic names (`seed_generator_3`,
    `adamw_1`) change with what else the process built.
    """
    return [*model.variables, *model.optimizer.variables]


def serialize(model) -> bytes:
    """The model's and optimizer's variables as the bytes of an `.npz` file,
    with PyTorch's global random state, which its unseeded dropout uses."""
    arrays = [np.asarray(v.numpy()) for v in _variables(model)]
    extra = {}
    if keras.backend.backend() == "torch":
        import torch

        extra[TORCH_RANDOM_STATE] = torch.get_rng_state().numpy()
    buffer = io.BytesIO()
    np.savez(buffer, *arrays, **extra)
    return buffer.getvalue()


def deserialize(model, content: bytes) -> None:
    """Assigns variables saved by `serialize` to `model` (built, compiled)."""
    variables = _variables(model)
    with np.load(io.BytesIO(content)) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(variables)) if f"arr_{i}" in saved.files]
        random_state = saved[TORCH_RANDOM_STATE] if TORCH_RANDOM_STATE in saved.files else None
    if [a.shape for a in arrays] != [tuple(v.shape) for v in variables]:
        raise ValueError("it holds other variables than this model has")
    for variable, array in zip(variables, arrays):
        variable.assign(array)
    if random_state is not None and keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(random_state))


class EpochCheckpoints(keras.callbacks.Callback):
    """Writes a resumable checkpoint after every epoch and keeps the best one.

    Call `restore(model)` before `fit` to resume, and `restore_best(model)`
    after it to end with the best epoch's weights. `state` holds the
    training curve (`history`) and the best and latest checkpoints.

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
        self.state = {"epoch": 0, "history": [], "best": None}

    @property
    def best_epoch(self) -> int | None:
        best = self.state["best"]
        return best and best["epoch"]

    def restore(self, model) -> int:
        """Loads the last checkpoint into `model`; returns the epochs done (0 if none).

        Raises:
            RunError: when the checkpoint is damaged, with what to do.
        """
        path = self.directory / STATE
        if not path.exists():
            return 0
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            entry = state["latest"]
        except (OSError, ValueError, KeyError) as error:
            raise self._damaged(path, error) from None
        self._load(model, entry)
        self.state = state
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
            deserialize(model, content)
        except (OSError, ValueError) as error:
            raise self._damaged(path, error) from None

    def _damaged(self, path, reason):
        return RunError(
            f"The checkpoint {path} is damaged or missing ({reason}), so the run cannot "
            "resume. Start it afresh with ", Setting("overwrite", True), " or use another ",
            Setting("output_dir"), ".",
        )  # fmt: skip

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
        state.update(epoch=done, latest=entry)
        self._write(done, STATE, json.dumps(state, indent=2).encode("utf-8"))
        for path in self.directory.glob("epoch-*.npz"):
            if path.name not in (state["latest"]["file"], state["best"]["file"]):
                path.unlink()

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


class InterruptBetweenSteps(keras.callbacks.Callback):
    """Ctrl-C during `fit` raises `KeyboardInterrupt` between two steps, never
    inside one; a second Ctrl-C raises it at once.

    Python raises `KeyboardInterrupt` wherever the main thread is when the
    signal arrives; inside TensorFlow's step function (which calls back into
    Python for the input pipeline) that can surface as a `SystemError` from
    CPython's internals instead, and the command ends with a traceback.
    Used as a context manager around `fit`, this records the signal and
    raises after the current batch. The last completed epoch's checkpoint is
    what a rerun resumes from either way.
    """

    def __init__(self):
        super().__init__()
        self.pending, self._previous = False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Else signals are not ours.
            self._previous = signal.signal(signal.SIGINT, self._record)
        return self

    def __exit__(self, *exception):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _record(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def _raise_if_pending(self):
        if self.pending:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        self._raise_if_pending()

    def on_test_batch_end(self, batch, logs=None):
        self._raise_if_pending()

    def on_epoch_end(self, epoch, logs=None):
        self._raise_if_pending()
