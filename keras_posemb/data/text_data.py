"""The form every data loader returns: texts and labels per split."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class Split:
    """Texts and their integer labels (indices into `TextData.class_names`)."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices) -> Split:
        return Split([self.texts[i] for i in indices], self.labels[indices])


@dataclasses.dataclass
class TextData:
    """A text classification data set: three splits and the class names."""

    name: str
    train: Split
    validation: Split
    test: Split
    class_names: list[str]

    def fingerprint(self) -> str:
        """SHA-256 of every text, label and class name: a resumed run checks its data."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            for text in split.texts:
                digest.update(text.encode("utf-8") + b"\0")
            digest.update(split.labels.astype("int64").tobytes())
        digest.update("\0".join(self.class_names).encode("utf-8"))
        return digest.hexdigest()


def split_off(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Splits a seeded random `fraction` (at least one example) off `split`.

    Returns:
        `(rest, part)`.
    """
    order = np.random.default_rng(seed).permutation(len(split))
    count = max(1, int(round(len(split) * fraction)))
    return split.take(order[count:]), split.take(order[:count])


LOCAL_SUFFIXES = (".tsv", ".csv")


def is_local(dataset: str) -> bool:
    """Whether `dataset` names local data: an existing file or folder, or a
    name ending in .tsv or .csv (so that a typo is reported as a missing file)."""
    return os.path.exists(dataset) or Path(dataset).suffix.lower() in LOCAL_SUFFIXES


def dataset_name(dataset: str) -> str:
    """The short name that runs and metrics use: `data/train.tsv` -> `train`,
    `glue/sst2` -> `glue_sst2`."""
    if is_local(dataset):
        return Path(dataset.rstrip("/")).stem
    return dataset.replace("/", "_")
