"""The run directory: what a training run writes, and the one place that
reads it back.

    model.keras        the classifier: token ids in, class probabilities out
    text_model.keras   the same with its TextVectorization: raw strings in
                       (TensorFlow backend only; see `Run.save_text_model`)
    vocabulary.txt     one token per line; id = line number (0: padding,
                       1: out-of-vocabulary)
    classes.json       class names; index = the model's output index
    settings.json      the run's settings and data fingerprint, written
                       when it starts; a rerun must match them to resume
    metrics.json       accuracies, timings, the validation curve, settings
    logs/              TensorBoard logs
    position_*.png     plots of the position vectors (`plot_file_name`)
    backup/            checkpoints while training; removed once every file
                       above is written
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from keras_posemb import files


def plot_file_name(name: str) -> str:
    """The file of a position family's plot `name` (`positions.PositionFamily.plots`)."""
    return f"position_{name}.png"


class Run:
    """A run directory, by path. Nothing is read or written until asked."""

    MODEL = "model.keras"
    TEXT_MODEL = "text_model.keras"
    VOCABULARY = "vocabulary.txt"
    CLASSES = "classes.json"
    SETTINGS = "settings.json"
    METRICS = "metrics.json"
    LOGS = "logs"
    BACKUP = "backup"

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"Run({str(self.directory)!r})"

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def logs_dir(self) -> Path:
        return self.path(self.LOGS)

    @property
    def backup_dir(self) -> Path:
        return self.path(self.BACKUP)

    def plot_path(self, kind: str) -> Path:
        return self.path(plot_file_name(kind))

    def outputs(self) -> list[Path]:
        """Every file and folder a run writes that exists now."""
        from keras_posemb import positions

        plots = [plot_file_name(name) for name in positions.plot_names()]
        names = [
            self.MODEL, self.TEXT_MODEL, self.VOCABULARY, self.CLASSES, self.SETTINGS,
            self.METRICS, self.LOGS, self.BACKUP, *plots,
        ]  # fmt: skip
        return [self.path(name) for name in names if self.path(name).exists()]

    def clear(self) -> None:
        """Removes what a run wrote (and nothing else in the directory)."""
        for path in self.outputs():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        files.remove_stale_temporaries(self.directory)

    # Small files.

    def _write_json(self, name: str, data: Any) -> None:
        files.atomic_write_json(self.path(name), data)

    def _read_json(self, name: str) -> Any:
        with open(self.path(name), encoding="utf-8") as file:
            return json.load(file)

    def write_settings(self, settings: dict) -> None:
        self._write_json(self.SETTINGS, settings)

    def read_settings(self) -> dict | None:
        """The settings the run started with, or `None` if none are recorded."""
        return self._read_json(self.SETTINGS) if self.path(self.SETTINGS).exists() else None

    def write_metrics(self, metrics: dict) -> None:
        self._write_json(self.METRICS, metrics)

    def read_metrics(self) -> dict:
        return self._read_json(self.METRICS)

    def write_classes(self, class_names: list[str]) -> None:
        self._write_json(self.CLASSES, list(class_names))

    def read_classes(self) -> list[str]:
        return self._read_json(self.CLASSES)

    def write_vocabulary(self, vocabulary: list[str]) -> None:
        """`vocabulary` as `TextVectorization.get_vocabulary()` returns it."""
        files.atomic_write_text(
            self.path(self.VOCABULARY), "".join(f"{token}\n" for token in vocabulary)
        )

    def read_vocabulary(self) -> list[str]:
        """The full vocabulary, padding and out-of-vocabulary tokens first."""
        with open(self.path(self.VOCABULARY), encoding="utf-8") as file:
            return file.read().split("\n")[:-1]

    def vectorizer(self):
        """The run's `TextVectorization`: raw strings to its token ids."""
        from keras_posemb.data import vectorizer_from_vocabulary

        return vectorizer_from_vocabulary(self.read_vocabulary())

    # Models.

    def save_model(self, model) -> None:
        files.atomic_save_model(model, self.path(self.MODEL))

    def load_model(self):
        import keras

        import keras_posemb  # noqa: F401  (registers the layers for loading)

        return keras.saving.load_model(self.path(self.MODEL), safe_mode=True)

    def save_text_model(self, model) -> None:
        """Saves the raw-text model (`serving.build_string_classifier`).

        Its `TextVectorization` runs TensorFlow ops, so it is written and
        loaded under the TensorFlow backend; on other backends
        `keras_posemb.predict` vectorizes with TensorFlow and runs
        `model.keras`.
        """
        files.atomic_save_model(model, self.path(self.TEXT_MODEL))

    def load_text_model(self):
        import keras

        import keras_posemb  # noqa: F401

        return keras.saving.load_model(self.path(self.TEXT_MODEL), safe_mode=True)

    def is_complete(self) -> bool:
        """Whether training finished and every final file was written."""
        finished = self.path(self.METRICS).exists() and self.path(self.MODEL).exists()
        return finished and not self.backup_dir.exists()
