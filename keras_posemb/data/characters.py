"""Text for language models: characters or bytes to ids, and batches of windows.

NumPy only (no TensorFlow), so a language model trains wherever Keras runs.
nanoGPT's character-level recipe is the model: the vocabulary is every
character of the text, sorted; training batches are windows at random
offsets, and held-out text is scored in windows that do not overlap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections.abc import Iterator

import numpy as np

from keras_posemb._args import check_choice, check_int
from keras_posemb.errors import DataError, DataWarning, Setting

LEVELS = ("character", "byte")
# The built-in text: sentences of the built-in data set, one per line.
BUILT_IN_SENTENCES = 10000


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Token ids of a text: one per character (sorted), or one per byte (256).

    Args:
        level: "character" or "byte".
        characters: the characters, id = index (character level only).
    """

    level: str
    characters: tuple[str, ...] = ()

    @classmethod
    def of_text(cls, text: str, level: str = "character") -> Vocabulary:
        check_choice("level", level, LEVELS)
        return cls(level, tuple(sorted(set(text))) if level == "character" else ())

    @property
    def size(self) -> int:
        return len(self.characters) if self.level == "character" else 256

    def encode(self, text: str, argument: str = "text") -> np.ndarray:
        """int32 ids of `text`.

        Raises:
            DataError: naming the characters the vocabulary lacks.
        """
        if self.level == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
        index = {character: i for i, character in enumerate(self.characters)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise DataError(
                f"The {argument} has characters the model was not trained on ({shown}"
                f"{', ...' if len(unknown) > 10 else ''}); its vocabulary has {self.size}."
            )
        return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids) -> str:
        ids = np.asarray(ids).reshape(-1)
        if self.level == "byte":
            return ids.astype(np.uint8).tobytes().decode("utf-8", errors="replace")
        return "".join(self.characters[i] for i in ids)

    def line_start(self) -> str | None:
        """What generation starts from when there is no prompt: a newline,
        as a line of the text starts after one; `None` if the text has none."""
        return "\n" if self.level == "byte" or "\n" in self.characters else None

    def to_json(self) -> dict:
        return {"level": self.level, "characters": list(self.characters)}

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        if not isinstance(data, dict) or data.get("level") not in LEVELS:
            raise ValueError("not a vocabulary")
        characters = tuple(data.get("characters", ()))
        if not all(isinstance(c, str) and len(c) == 1 for c in characters):
            raise ValueError("its characters are not single characters")
        return cls(data["level"], characters)


@dataclasses.dataclass(frozen=True)
class TextSplits:
    """A text's training and validation ids, and its vocabulary."""

    name: str
    vocabulary: Vocabulary
    train: np.ndarray
    validation: np.ndarray

    def fingerprint(self) -> str:
        """SHA-256 of both splits and the vocabulary: the same data, the same value."""
        digest = hashlib.sha256(repr(self.vocabulary.to_json()).encode("utf-8"))
        for ids in (self.train, self.validation):
            digest.update(ids.astype(np.int32).tobytes() + b"\0")
        return digest.hexdigest()


def built_in_text(sentences: int = BUILT_IN_SENTENCES, seed: int = 0) -> str:
    """Sentences of the built-in `order` data set, one per line (about 60
    characters each): text the package makes itself, for offline runs."""
    from keras_posemb.data.order import order_dataset

    data = order_dataset(sentences, 0, 0, max_words=16, seed=seed)
    return "".join(text + "\n" for text in data.train.texts)


def read_text(path: str | os.PathLike, encoding: str, argument: str) -> str:
    """The text of the file `path` (the setting `argument`).

    Raises:
        DataError: for a file that is not a regular file (a FIFO or device is
            never opened: it could block), cannot be read, or is not
            `encoding` text.
    """
    which = (f"{path} (", Setting(argument), ")")
    if not os.path.isfile(path):
        raise DataError(*which, " is not an existing regular file; expected a text file.")
    try:
        with open(path, encoding=encoding) as file:
            return file.read()
    except UnicodeDecodeError as error:
        raise DataError(
            *which, f" is not {encoding} text ({error.reason} at byte {error.start})."
        ) from None
    except OSError as error:
        raise DataError(*which, f" cannot be read ({error.strerror}).") from None


def load_text_splits(
    text_file: str | None,
    validation_file: str | None = None,
    level: str = "character",
    validation_fraction: float = 0.1,
    encoding: str = "utf-8",
) -> TextSplits:
    """The ids of a text for training and validation.

    Without `validation_file`, the last `validation_fraction` of the text is
    held out (nanoGPT's split: contiguous, so no validation window overlaps
    training text). Without `text_file`, the built-in text.

    Raises:
        DataError: for a text too short to train on, or undecodable.
    """
    text = built_in_text() if text_file is None else read_text(text_file, encoding, "text_file")
    name = "built-in" if text_file is None else os.path.basename(text_file)
    if validation_file is not None:
        train_text, validation_text = text, read_text(validation_file, encoding, "validation_file")
        if text_file is not None and os.path.samefile(text_file, validation_file):
            warnings.warn(
                f"the validation file is the training file ({validation_file}): its loss "
                "measures how well the model remembers its training text, and it picks the "
                "interval that is kept.",
                DataWarning,
                stacklevel=2,
            )
    else:
        cut = len(text) - int(len(text) * validation_fraction)
        train_text, validation_text = text[:cut], text[cut:]
    vocabulary = Vocabulary.of_text(train_text + validation_text, level)
    if vocabulary.size < 2:
        raise DataError(
            f"The text has {vocabulary.size} distinct character(s) "
            f"({', '.join(map(repr, vocabulary.characters)) or 'none'}): there is nothing to "
            "predict. A language model needs at least 2."
        )
    splits = TextSplits(
        name, vocabulary, vocabulary.encode(train_text), vocabulary.encode(validation_text)
    )
    for split, ids in [("training", splits.train), ("validation", splits.validation)]:
        if len(ids) < 2:
            raise DataError(f"The {split} text has {len(ids)} tokens; at least 2 are needed.")
    return splits


def random_windows(ids: np.ndarray, length: int, batch_size: int, steps: int, seed) -> Iterator:
    """`steps` batches `(inputs, targets)` of `length` tokens at random
    offsets (targets: the next tokens), drawn from `seed` alone, so that a
    resumed run draws what the killed one would have. A text shorter than a
    window gives windows of the whole text."""
    length = min(length, len(ids) - 1)
    rng = np.random.default_rng(seed)
    offsets = np.arange(length + 1)
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - length, size=batch_size)
        windows = ids[starts[:, None] + offsets]
        yield windows[:, :-1], windows[:, 1:]


def windows(ids: np.ndarray, length: int, stride: int | None = None) -> tuple[np.ndarray, ...]:
    """`(inputs, targets, scored)` windows of `length` tokens for evaluation.

    Without `stride`, windows do not overlap and every target is scored
    (the text's end that fills no window is left out). With `stride`, a
    window starts every `stride` tokens and scores only its last `stride`
    targets (the first window scores all of its own): every token after the
    first window is predicted from at least `length - stride` earlier ones,
    the sliding-window evaluation of Press et al.

    Raises:
        DataError: when the text is shorter than one window.
    """
    check_int("length", length)
    stride = check_int("stride", length if stride is None else stride, maximum=length)
    count = (len(ids) - 1 - length) // stride + 1
    if len(ids) - 1 < length:
        raise DataError(
            f"The held-out text has {len(ids)} tokens, fewer than one window of {length} needs "
            f"({length + 1})."
        )
    starts = np.arange(count) * stride
    windows = ids[starts[:, None] + np.arange(length + 1)]
    scored = np.zeros((count, length), dtype=np.float32)
    scored[:, length - stride :] = 1.0
    scored[0, :] = 1.0
    return windows[:, :-1], windows[:, 1:], scored
