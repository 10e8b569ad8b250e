"""The run directory: what a training run writes, and the one place that
reads it back.

    model.keras        the classifier: token ids in, class probabilities out
    text_model.keras   the same with its TextVectorization: raw strings in
                       (TensorFlow backend only; see `Run.save_text_model`)
    vocabulary.txt     one token per line; id = line number (0: padding,
                       1: out-of-vocabulary)
    classes.json       class names; index = the model's output index
    tokens.json        a language model's vocabulary (`keras-posemb-lm`):
                       its level and characters; id = index
    settings.json      the run's kind, settings and data fingerprint,
                       written when it starts; a rerun must match them to
                       resume
    metrics.json       accuracies, timings, the validation curve, settings
    logs/              TensorBoard logs
    training_curves.png  loss and accuracy (or perplexity) by epoch or step
    position_*.png     plots of the position vectors (`analysis.plots`)
    backup/            checkpoints while training; removed once every file
                       above is written
    .keras-posemb/     what the package wrote here, the lock of the process
                       writing, temporary files (`owned.OwnedDirectory`)

Only what a run wrote is ever replaced or removed: the directory's manifest
lists it (in logs/ and backup/, file by file), and a directory with other
files is refused.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

from keras_posemb import _backend, files
from keras_posemb.errors import RunError, Setting
from keras_posemb.runs.owned import OwnedDirectory


@dataclasses.dataclass(frozen=True)
class RunKind:
    """What a run directory holds, the command that trains it and the one
    that uses it once finished (`{run}` stands for its path)."""

    name: str
    trainer: str
    use: str
    # A setting only this kind's trainer has: how runs that recorded no
    # kind (keras-posemb 0.3.0's first versions) are told apart.
    own_setting: str

    @property
    def a_run(self) -> str:
        """`"a text classifier run"`, `"an image classifier run"`."""
        return f"{'an' if self.name[0] in 'aeiou' else 'a'} {self.name} run"


TEXT_CLASSIFIER = RunKind(
    "text classifier",
    "keras-posemb-train",
    'classify texts with: keras-posemb-predict {run} "a text" ...',
    "vocab_size",
)
LANGUAGE_MODEL = RunKind(
    "language model",
    "keras-posemb-lm",
    'generate text with: keras-posemb-generate {run} "a prompt"',
    "eval_interval",
)
IMAGE_CLASSIFIER = RunKind(
    "image classifier",
    "keras-posemb-train-images",
    "classify image files with: keras-posemb-predict {run} image.png ...",
    "patch_size",
)
KINDS = {kind.name: kind for kind in (TEXT_CLASSIFIER, LANGUAGE_MODEL, IMAGE_CLASSIFIER)}


def _is_dict(value) -> bool:
    return isinstance(value, dict)


def load_keras_file(path: str | os.PathLike):
    """`keras.saving.load_model(path, safe_mode=True)`, with one clear error.

    Raises:
        RunError: for a file that is missing, not a `.keras` model, damaged
            (truncated), or refused by safe mode (it would run code).
    """
    import zipfile

    import keras

    import keras_posemb  # noqa: F401  (registers the layers for loading)

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path} does not exist or is not a file; expected a .keras model.")
    if not zipfile.is_zipfile(path):
        raise RunError(
            f"{path} is not a .keras model (a .keras file is a zip archive; this one is "
            "not, or it was cut short)."
        )
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive.
        raise _refusal(path, error) from None


def _refusal(path, error) -> RunError:
    """What a failed `load_model` means, from Keras' chain of exceptions: code
    that safe mode will not run, a class Keras does not import, or damage."""
    chain = []
    while error is not None and len(chain) < 10:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    text = "\n".join(chain)
    if "safe_mode" in text:
        found = re.search(r"Requested the deserialization of (.*?)\.", text)
        what = found.group(1) if found else "a Lambda layer or a function"
        return RunError(
            f"{path} was refused by Keras' safe mode: it holds {what}, code that loading "
            "would run, and nothing of it was run. keras-posemb never writes such files."
        )
    found = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if found:
        module = re.search(r"'module': '([^']+)'", text[found.end() :])
        where = f" of module {module.group(1)!r}" if module else ""
        return RunError(
            f"{path} was refused: it asks for {found.group(1)!r}{where}, which is neither "
            "Keras' nor keras-posemb's, and loading imports nothing else (nothing was run). "
            "If it is a layer of a package of yours, import that package first."
        )
    reason = chain[0].strip().splitlines()[0] if chain and chain[0].strip() else "unknown"
    return RunError(f"{path} could not be loaded as a Keras model ({reason[:300]}).")


class Run:
    """A run directory, by path. Nothing is read or written until asked."""

    MODEL = "model.keras"
    TEXT_MODEL = "text_model.keras"
    VOCABULARY = "vocabulary.txt"
    CLASSES = "classes.json"
    TOKENS = "tokens.json"
    SETTINGS = "settings.json"
    METRICS = "metrics.json"
    LOGS = "logs"
    BACKUP = "backup"
    TRAINING_CURVES = "training_curves.png"

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.owner = OwnedDirectory(self.directory, "run")

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
        from keras_posemb.analysis.plots import plot_file_name

        return self.path(plot_file_name(kind))

    def locked(self):
        """Holds the run's lock (`OwnedDirectory.locked`): one process writes at a time."""
        return self.owner.locked()

    def claim(self, *names: str) -> None:
        """Lists `names` as the run's before they are written (`OwnedDirectory.claim`)."""
        self.owner.claim(*names)

    def claim_training_files(self) -> None:
        """Claims, before training starts, backup/ and logs/ and what this
        process will write there: the checkpoints, and TensorBoard's event
        files, which TensorBoard names itself (time, host, process id)."""
        from keras_posemb.runs import checkpoints

        self.claim(self.BACKUP, self.LOGS)
        for pattern in checkpoints.FILE_PATTERNS:
            self.owner.claim_pattern(f"{self.BACKUP}/{pattern}")
        host = glob.escape(socket.gethostname())
        self.owner.claim_pattern(f"{self.LOGS}/*/events.out.tfevents.*.{host}.{os.getpid()}.*")

    def write_projector(self, tables: dict) -> None:
        """TensorBoard's Embedding Projector files of `tables` in logs/
        (`summaries.write_projector`)."""
        from keras_posemb.analysis import summaries

        self.claim(
            self.LOGS, *(f"{self.LOGS}/{name}" for name in summaries.projector_files(tables))
        )
        summaries.write_projector(str(self.logs_dir), tables)

    def outputs(self) -> list[Path]:
        """Every file and folder the run wrote that exists now."""
        return self.owner.existing()

    def clear(self) -> None:
        """Removes what the run wrote, and nothing else in the directory."""
        self.owner.remove_own()

    # Small files.

    def _write_json(self, name: str, data: Any) -> None:
        self.claim(name)
        files.atomic_write_json(self.path(name), data)

    def _read_json(self, name: str) -> Any:
        with open(self.path(name), encoding="utf-8") as file:
            return json.load(file)

    def _read(self, name: str, read, valid=lambda value: True):
        """`read()` of the run's file `name`; a `RunError` saying the file is
        missing or damaged when it fails or `valid(value)` does not hold."""
        try:
            value = read()
            problem = None if valid(value) else "its contents are not what a run writes"
        except (OSError, ValueError, UnicodeDecodeError) as error:
            problem = getattr(error, "strerror", None) or str(error).splitlines()[0]
        if problem is not None:
            try:
                kind = self.kind()
            except RunError:  # Damaged settings too: the message says what it can.
                kind = None
            writer = f"{kind.trainer} at the end of {kind.a_run}" if kind else "training"
            raise RunError(
                f"{self.path(name)} is missing or damaged ({problem}); it is written by "
                f"{writer}. Train the run again with ", Setting("overwrite", True), ".",
            )  # fmt: skip
        return value

    def kind(self) -> RunKind | None:
        """What the run holds (`KINDS`), from settings.json; `None` for a
        directory that holds no run's settings.

        Raises:
            RunError: when settings.json is damaged.
        """
        recorded = self.read_settings()
        if recorded is None:
            return None
        if recorded.get("kind") in KINDS:
            return KINDS[recorded["kind"]]
        return next((k for k in KINDS.values() if k.own_setting in recorded["settings"]), None)

    def check_kind(self, kind: RunKind) -> None:
        """Raises `RunError` unless the run is a finished `kind` run, saying
        what it is instead and which command uses it."""
        found = self.kind()
        path = self.directory
        if found is None:
            raise RunError(
                f"{path} is not a run directory of keras-posemb (no settings.json of a run); "
                f"expected a finished {kind.name} run of {kind.trainer}."
            )
        if found != kind:
            use = found.use.format(run=path)
            raise RunError(f"{path} is {found.a_run} ({found.trainer}), not {kind.a_run}; {use}")
        if not self.is_complete():
            raise RunError(
                f"{path} is a {kind.name} run that has not finished: rerun the {kind.trainer} "
                "command that started it to resume it."
            )

    def write_settings(self, kind: RunKind, settings: dict, data_fingerprint: str) -> None:
        recorded = {"kind": kind.name, "settings": settings, "data_fingerprint": data_fingerprint}
        self._write_json(self.SETTINGS, recorded)

    def read_settings(self) -> dict | None:
        """The settings the run started with, or `None` if it recorded none.

        Raises:
            RunError: when settings.json is not the run's or is damaged.
        """
        if self.SETTINGS not in self.owner.entries():
            return None
        try:
            recorded = self._read_json(self.SETTINGS)
            valid = isinstance(recorded["settings"]["seed"], int)  # Every trainer has a seed.
        except (OSError, ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            raise RunError(
                f"{self.path(self.SETTINGS)} is damaged, so the run cannot be resumed or read. "
                "Start it afresh with ", Setting("overwrite", True), " or use another ",
                Setting("output_dir"), ".",
            )  # fmt: skip
        return recorded

    def write_metrics(self, metrics: dict) -> None:
        self._write_json(self.METRICS, metrics)

    def read_metrics(self) -> dict:
        return self._read(self.METRICS, lambda: self._read_json(self.METRICS), _is_dict)

    def write_classes(self, class_names: list[str]) -> None:
        self._write_json(self.CLASSES, list(class_names))

    def read_classes(self) -> list[str]:
        def valid(names):
            return (
                isinstance(names, list)
                and len(names) >= 2
                and all(isinstance(n, str) for n in names)
            )

        return self._read(self.CLASSES, lambda: self._read_json(self.CLASSES), valid)

    def write_tokens(self, vocabulary: dict) -> None:
        """A language model's `data.characters.Vocabulary.to_json()`."""
        self._write_json(self.TOKENS, vocabulary)

    def read_tokens(self):
        """The language model's `data.characters.Vocabulary`."""
        from keras_posemb.data.characters import Vocabulary

        return self._read(self.TOKENS, lambda: Vocabulary.from_json(self._read_json(self.TOKENS)))

    def write_vocabulary(self, vocabulary: list[str]) -> None:
        """`vocabulary` as `TextVectorization.get_vocabulary()` returns it."""
        self.claim(self.VOCABULARY)
        files.atomic_write_text(
            self.path(self.VOCABULARY), "".join(f"{token}\n" for token in vocabulary)
        )

    def read_vocabulary(self) -> list[str]:
        """The full vocabulary, padding and out-of-vocabulary tokens first."""

        def read():
            with open(self.path(self.VOCABULARY), encoding="utf-8") as file:
                return file.read().split("\n")[:-1]

        return self._read(self.VOCABULARY, read)

    def vectorizer(self):
        """The run's `TextVectorization`: raw strings to its token ids."""
        from keras_posemb.data import vectorizer_from_vocabulary

        _backend.require("tensorflow", "A text classifier's vocabulary (TextVectorization)")

        vocabulary = self.read_vocabulary()
        return self._read(self.VOCABULARY, lambda: vectorizer_from_vocabulary(vocabulary))

    # Models.

    def save_model(self, model) -> None:
        self.claim(self.MODEL)
        files.atomic_save_model(model, self.path(self.MODEL))

    def load_model(self):
        return load_keras_file(self.path(self.MODEL))

    def load_language_model(self):
        """`(model, vocabulary)` of a language-model run, checked to belong
        together.

        Raises:
            RunError: when model.keras is not a language model, or tokens.json
                has another number of tokens than the model.
        """
        vocabulary = self.read_tokens()
        model = self.load_model()
        if not hasattr(model, "call_with_cache"):
            raise RunError(
                f"{self.path(self.MODEL)} is not a language model (it is a "
                f"{type(model).__name__}), so this run's files are not of one run. Train the "
                "run again with ", Setting("overwrite", True), ".",
            )  # fmt: skip
        if vocabulary.size != model.vocab_size:
            raise RunError(
                f"{self.path(self.TOKENS)} has {vocabulary.size} tokens and the model "
                f"{model.vocab_size}, so this run's files are not of one run. Train the run "
                "again with ", Setting("overwrite", True), ".",
            )  # fmt: skip
        return model, vocabulary

    def save_text_model(self, model) -> None:
        """Saves the raw-text model (`serving.build_string_classifier`).

        Its `TextVectorization` runs TensorFlow ops, so it is written and
        loaded under the TensorFlow backend; on other backends
        `keras_posemb.runs.predict` vectorizes with TensorFlow and runs
        `model.keras`.
        """
        self.claim(self.TEXT_MODEL)
        files.atomic_save_model(model, self.path(self.TEXT_MODEL))

    def load_text_model(self):
        return load_keras_file(self.path(self.TEXT_MODEL))

    def save_training_curves(
        self, history, second: str, unit="epoch", steps_per_point=1, kept=None
    ):
        """Writes `training_curves.png` (`viz.plot_training_curves`)."""
        from keras_posemb.analysis import viz

        self.claim(self.TRAINING_CURVES)
        figure = viz.plot_training_curves(history, second, unit, steps_per_point, kept)
        files.atomic_save_figure(figure, self.path(self.TRAINING_CURVES))

    def save_plots(self, model, length: int | None, trained_length: int | None = None) -> list[str]:
        """Writes the plots of the model's position family (`position_*.png`),
        if it has any (`analysis.plots`)."""
        from keras_posemb import families
        from keras_posemb.analysis import plots

        view = plots.view_of(families.find_position(model)[0])
        if not view.plots:
            return []
        self.claim(*(plots.plot_file_name(name) for name in view.plots))
        return plots.write_position_plots(model, self.directory, length, trained_length)[0]

    def has_backup(self) -> bool:
        """Whether the run's own checkpoints (`backup/state.json`) exist."""
        from keras_posemb.runs.checkpoints import STATE

        return self.owner.owns(f"{self.BACKUP}/{STATE}") and (self.backup_dir / STATE).exists()

    def is_complete(self) -> bool:
        """Whether training finished and every final file was written."""
        entries = self.owner.entries()
        finished = all(name in entries for name in (self.METRICS, self.MODEL))
        return finished and self.path(self.METRICS).exists() and not self.has_backup()
