"""The trainers' data.

Text classification (this module): the built-in `order` set, local files
and tfds. Every loader returns a `TextData`: Python lists of strings and
NumPy label arrays for the train, validation and test splits, and the class
names. `make_vectorizer` adapts a `TextVectorization` layer on the training
text and the pipeline functions turn a split into `tf.data` batches of
token ids. The language-model and image trainers read NumPy only:
`characters` (text as character or byte ids, random windows), `corpora`
(downloads with a checked hash) and `images` (the built-in shapes, tensorflow-
datasets' image sets, one image file for a prediction).
"""

from __future__ import annotations

import os

from keras_posemb.data.local import local_dataset, read_class_folders, read_table
from keras_posemb.data.order import order_dataset
from keras_posemb.data.text_data import Split, TextData, dataset_name, is_local, split_off
from keras_posemb.data.tfds import tfds_dataset
from keras_posemb.errors import DataError, DataWarning, argument_error

BUILT_IN = "order"

# The tf.data functions (`pipeline`), imported on first use: the other data
# modules, and the trainers' settings that check a data set, need no
# TensorFlow.
_PIPELINE = (
    "TrainingBatches",
    "bucket_lengths",
    "make_pipeline",
    "make_vectorizer",
    "token_ids",
    "vectorizer_from_vocabulary",
)


def __getattr__(name):
    if name in _PIPELINE:
        from keras_posemb.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILT_IN",
    "DataError",
    "DataWarning",
    "Split",
    "TextData",
    "TrainingBatches",
    "bucket_lengths",
    "dataset_kind",
    "dataset_name",
    "load_dataset",
    "local_dataset",
    "make_pipeline",
    "make_vectorizer",
    "order_dataset",
    "read_class_folders",
    "read_table",
    "split_off",
    "tfds_dataset",
    "token_ids",
    "vectorizer_from_vocabulary",
]


def dataset_kind(dataset: str) -> str:
    """`"order"`, `"local"` (`text_data.is_local`) or `"tfds"`: a key of `LOADERS`.

    The name `order` always means the built-in set (`./order` reaches a
    file of that name).
    """
    if dataset == BUILT_IN:
        return BUILT_IN
    return "local" if is_local(dataset) else "tfds"


def check_dataset_arguments(
    dataset: str,
    validation_file: str | None = None,
    test_file: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> None:
    """Checks, without reading any data, that the arguments fit `dataset`.

    Raises:
        ArgumentError: for a file that does not exist, or an option for
            local files given with another kind of data set.
    """
    kind = dataset_kind(dataset)
    local_only = {
        "validation_file": validation_file,
        "test_file": test_file,
        "text_column": text_column,
        "label_column": label_column,
    }
    for name, value in local_only.items():
        if value is not None and kind != "local":
            raise argument_error(
                name, value, f"None with dataset={dataset!r}: it applies to local files only"
            )
    paths = {"dataset": dataset, "validation_file": validation_file, "test_file": test_file}
    for name, path in paths.items():
        if kind == "local" and path is not None and not os.path.exists(path):
            raise argument_error(name, path, "an existing file or directory")


def load_dataset(
    dataset: str,
    *,
    validation_file: str | None = None,
    test_file: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    data_dir: str | None = None,
    download: bool = False,
    seed: int = 0,
    order_train_size: int = 8000,
    max_words: int = 12,
) -> TextData:
    """Loads `dataset`: `"order"`, a local file or folder, or a tfds name.

    Args:
        dataset: `"order"` (built in; validation and test get 1/8 of
            `order_train_size` each), a `.tsv`/`.csv` file, a directory of
            class folders, or a tensorflow-datasets name.
        validation_file, test_file: held-out files for a local data set
            (default: a seeded 10% of the training file each).
        text_column, label_column, encoding: how to read local files.
        data_dir, download: where tensorflow-datasets keeps its data, and
            whether it may download.
        seed: seeds the held-out splits and the `order` generator.
        order_train_size, max_words: size and longest sentence of `order`.
    """
    check_dataset_arguments(dataset, validation_file, test_file, text_column, label_column)
    return LOADERS[dataset_kind(dataset)](
        dataset,
        validation_file=validation_file,
        test_file=test_file,
        text_column=text_column,
        label_column=label_column,
        encoding=encoding,
        data_dir=data_dir,
        download=download,
        seed=seed,
        order_train_size=order_train_size,
        max_words=max_words,
    )


def _load_order(dataset, *, seed, order_train_size, max_words, **_):
    held_out = max(2, order_train_size // 16 * 2)
    return order_dataset(order_train_size, held_out, held_out, max_words=max_words, seed=seed)


def _load_local(
    dataset, *, validation_file, test_file, text_column, label_column, encoding, seed, **_
):
    return local_dataset(
        dataset, validation_file, test_file, text_column, label_column, seed=seed, encoding=encoding
    )


def _load_tfds(dataset, *, data_dir, download, seed, **_):
    return tfds_dataset(dataset, data_dir, download, seed=seed)


# Each kind of data set (`dataset_kind`) and its loader, which takes
# `load_dataset`'s arguments and uses those of its kind.
LOADERS = {BUILT_IN: _load_order, "local": _load_local, "tfds": _load_tfds}
