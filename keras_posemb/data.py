"""Text classification data: the built-in `order` set, tfds, local files.

Every loader returns a `TextData`: Python lists of strings and NumPy label
arrays for the train, validation and test splits, and the class names.
`make_vectorizer` adapts a `TextVectorization` layer on the training text
and `make_pipeline` turns a split into a `tf.data` pipeline of token ids
(TensorFlow only; the models stay backend-agnostic).
"""

import csv
import dataclasses
import os
from pathlib import Path

import numpy as np

TEXT_COLUMNS = ("text", "sentence", "content", "review", "document", "description", "body")
LABEL_COLUMNS = ("label", "labels", "class", "sentiment", "target", "category")


@dataclasses.dataclass
class Split:
    texts: list
    labels: np.ndarray

    def __len__(self):
        return len(self.texts)


@dataclasses.dataclass
class TextData:
    name: str
    train: Split
    validation: Split
    test: Split
    class_names: list


class DataError(ValueError):
    """Bad data or a data set that cannot be had; the message says why."""


# The built-in `order` data set.

# Ordered by size: the label says whether the actor is the larger animal.
ANIMALS = ["ant", "bee", "mouse", "frog", "rabbit", "cat", "fox", "dog", "wolf", "horse", "bear", "elephant"]
VERBS = ["chased", "scared", "followed", "bit", "watched", "pushed", "found", "ignored"]
ADJECTIVES = ["big", "small", "old", "young", "brown", "grey", "quick", "lazy", "happy", "angry"]
FILLERS = [
    "yesterday", "today", "again", "then", "suddenly", "quietly", "once", "later",
    "in the garden", "near the river", "after lunch", "as usual", "for a while",
    "without a sound", "on a sunny morning", "to everyone 's surprise",
]
ORDER_CLASSES = ["smaller actor", "larger actor"]


def _noun_phrase(rng):
    adjectives = rng.choice(ADJECTIVES, size=rng.integers(0, 3), replace=False)
    return ["the", *adjectives]


def _order_pair(rng, min_words, max_words, passive_fraction):
    """A sentence and its noun-swapped counterpart, with opposite labels."""
    first, second = rng.choice(len(ANIMALS), size=2, replace=False)
    passive = rng.random() < passive_fraction
    verb = [rng.choice(VERBS)]
    if passive:  # "the cat was chased by the dog": the actor comes second.
        verb = ["was", verb[0], "by"]
    left, right = _noun_phrase(rng), _noun_phrase(rng)
    slots = [[], [], []]  # Before the first phrase, before the verb, at the end.
    target = int(rng.integers(min_words, max_words + 1))
    length = len(left) + len(right) + len(verb) + 2
    while length < target:
        room = target - length
        phrases = [f for f in FILLERS if len(f.split()) <= room]
        filler = rng.choice(phrases).split()
        slots[rng.integers(0, 3)].extend(filler)
        length += len(filler)
    if length > max_words:
        return None

    def sentence(a, b):
        words = slots[0] + left + [ANIMALS[a]] + slots[1] + verb + right + [ANIMALS[b]] + slots[2]
        actor, acted_on = (b, a) if passive else (a, b)
        return " ".join(words), int(actor > acted_on)

    return sentence(first, second), sentence(second, first)


def order_dataset(train_size=16000, validation_size=2000, test_size=2000, min_words=5, max_words=24, passive_fraction=0.5, seed=0):
    """The built-in `order` data set: word order alone decides the label.

    Each sentence says that one animal did something to another, e.g.
    "the dog chased the cat" or, in the passive, "the cat was chased by the
    dog", with optional adjectives and filler phrases ("in the garden",
    "yesterday") at random places. The label is 1 when the actor is the
    larger animal (animals are ranked by size: ant < bee < ... < elephant).
    Every sentence comes with its counterpart with the two noun phrases
    swapped: the same words, the other label. A model that ignores word
    order therefore scores 50% on every split. Pairs never cross splits and
    no sentence appears twice.

    Args:
        train_size, validation_size, test_size: sentences per split (even).
        min_words, max_words: sentence lengths, in words, drawn uniformly
            (a sentence needs at least 5 words).
        passive_fraction: share of sentences in the passive voice.
        seed: the generator's seed; the same seed gives the same data.

    Returns:
        A `TextData`.
    """
    if not 5 <= min_words <= max_words:
        raise ValueError(
            "Arguments `min_words` and `max_words` must satisfy 5 <= min_words <= "
            f"max_words; received min_words={min_words}, max_words={max_words}."
        )
    sizes = [train_size, validation_size, test_size]
    if any(size < 0 or size % 2 for size in sizes):
        raise ValueError(f"Split sizes must be even and >= 0; received {sizes}.")
    rng = np.random.default_rng(seed)
    seen, pairs = set(), []
    misses = 0  # Draws in a row that gave nothing new.
    while len(pairs) < sum(sizes) // 2:
        if misses > 5000:
            raise ValueError(
                f"Could not draw {sum(sizes)} distinct sentences of {min_words}-"
                f"{max_words} words; ask for fewer or allow longer sentences."
            )
        pair = _order_pair(rng, min_words, max_words, passive_fraction)
        if pair is None or pair[0][0] in seen or pair[1][0] in seen:
            misses += 1
            continue
        misses = 0
        seen.update(text for text, _ in pair)
        pairs.append(pair)
    splits, start = [], 0
    for size in sizes:
        chosen = [example for pair in pairs[start : start + size // 2] for example in pair]
        order = rng.permutation(len(chosen))
        splits.append(Split([chosen[i][0] for i in order], np.array([chosen[i][1] for i in order], "int64")))
        start += size // 2
    return TextData("order", *splits, ORDER_CLASSES)


# Local files.


def _pick_column(header, wanted, choices, path, role):
    if wanted is not None:
        if wanted not in header:
            raise DataError(f"{path}: no {role} column {wanted!r}; the header has {header}.")
        return header.index(wanted)
    lowered = [name.strip().lower() for name in header]
    for name in choices:
        if name in lowered:
            return lowered.index(name)
    raise DataError(
        f"{path}: cannot find the {role} column; the header has {header}. "
        f"Name it one of {list(choices)} or pass --{role}-column."
    )


def read_table(path, text_column=None, label_column=None):
    """Reads a `.tsv` or `.csv` file with a header row.

    Returns:
        `(texts, raw_labels, line_numbers)`; labels are still strings.

    Raises:
        DataError: naming the file and line of a malformed row (missing
            field, empty text or label).
    """
    path = Path(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, newline="", encoding="utf-8") as file:
        # TSV files of tokenized text (SST-2) hold bare quotes: no quoting.
        reader = csv.reader(file, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: the file is empty; expected a header row.")
        text_index = _pick_column(header, text_column, TEXT_COLUMNS, path, "text")
        label_index = _pick_column(header, label_column, LABEL_COLUMNS, path, "label")
        texts, labels, lines = [], [], []
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) <= max(text_index, label_index):
                raise DataError(f"{path}, line {line}: expected {len(header)} fields, found {len(row)}: {row!r}.")
            text, label = row[text_index].strip(), row[label_index].strip()
            if not text:
                raise DataError(f"{path}, line {line}: empty text.")
            if not label:
                raise DataError(f"{path}, line {line}: empty label.")
            texts.append(text)
            labels.append(label)
            lines.append(line)
    if not texts:
        raise DataError(f"{path}: no data rows after the header.")
    return texts, labels, lines


def read_class_folders(directory):
    """Reads `directory/<class>/*.txt` (the text_dataset_from_directory layout).

    Returns:
        `(texts, raw_labels, file_names)`.
    """
    directory = Path(directory)
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"{directory}: expected one subdirectory per class (at least 2); found {classes}.")
    texts, labels, names = [], [], []
    for name in classes:
        for file in sorted((directory / name).glob("*.txt")):
            text = file.read_text(encoding="utf-8").strip()
            if not text:
                raise DataError(f"{file}: empty text.")
            texts.append(text)
            labels.append(name)
            names.append(str(file))
    return texts, labels, names


def _read_local(path, text_column, label_column):
    if Path(path).is_dir():
        return read_class_folders(path)
    texts, labels, lines = read_table(path, text_column, label_column)
    return texts, labels, [f"{path}, line {line}" for line in lines]


def _class_names(raw_labels):
    names = sorted(set(raw_labels))
    if all(name.lstrip("-").isdigit() for name in names):
        names = sorted(names, key=int)
    if len(names) < 2:
        raise DataError(f"Expected at least 2 classes in the training data; found {names}.")
    return names


def _encode_labels(raw_labels, where, class_names):
    index = {name: i for i, name in enumerate(class_names)}
    for label, place in zip(raw_labels, where):
        if label not in index:
            raise DataError(f"{place}: unknown label {label!r}; the training data has {class_names}.")
    return np.array([index[label] for label in raw_labels], "int64")


def split_off(split, fraction, seed):
    """Splits `fraction` of `split` off at random: `(rest, part)`."""
    order = np.random.default_rng(seed).permutation(len(split))
    count = max(1, int(round(len(split) * fraction)))
    return _take(split, order[count:]), _take(split, order[:count])


def _take(split, indices):
    return Split([split.texts[i] for i in indices], split.labels[indices])


def local_dataset(path, validation_file=None, test_file=None, text_column=None, label_column=None, holdout_fraction=0.1, seed=0):
    """A `.tsv`/`.csv` file or a class-per-folder directory.

    Validation and test come from their own files when given; otherwise
    each is split off the training data with a seeded `holdout_fraction`.
    Labels may be strings or integers; class names are the training labels,
    sorted (numerically when they are all integers).
    """
    texts, raw, where = _read_local(path, text_column, label_column)
    class_names = _class_names(raw)
    train = Split(texts, _encode_labels(raw, where, class_names))

    def held_out(file, offset):
        nonlocal train
        if file is not None:
            texts, raw, where = _read_local(file, text_column, label_column)
            return Split(texts, _encode_labels(raw, where, class_names))
        train, part = split_off(train, holdout_fraction, seed + offset)
        return part

    test = held_out(test_file, 1)
    validation = held_out(validation_file, 2)
    return TextData(Path(path).stem, train, validation, test, class_names)


# TensorFlow Datasets.


def _tfds_keys(features):
    import tensorflow_datasets as tfds

    label = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    text = next((k for k in TEXT_COLUMNS if k in features and isinstance(features[k], tfds.features.Text)), None)
    if text is None:
        text = next((k for k, f in features.items() if isinstance(f, tfds.features.Text)), None)
    return text, label


def tfds_dataset(name, data_dir=None, download=False, holdout_fraction=0.1, seed=0):
    """A text classification data set from tensorflow-datasets, by name.

    Uses the data set's test split, or its validation split when the test
    labels are hidden (all -1, as in glue/sst2); validation is the validation
    split when it is not already the test split, else a seeded
    `holdout_fraction` of train.

    Args:
        name: a tfds name such as `"imdb_reviews"` or `"glue/sst2"`.
        data_dir: where tfds keeps prepared data (tfds' default if `None`).
        download: download and prepare the data if it is not there yet.

    Raises:
        DataError: when the data is not prepared and `download` is off (a
            plain `tfds.load` would retry downloading for minutes offline),
            or the data set has no text and class-label features.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises several kinds for unknown names.
        raise DataError(f"--dataset {name!r} is not a file, a directory or a known tensorflow-datasets name ({error}).") from error
    if not download and not builder.is_prepared():
        raise DataError(
            f"tensorflow-datasets {name!r} is not prepared in {builder.data_dir_root!s}. "
            "Run again with --download on a machine with internet access, or point "
            "--data-dir at a directory that holds the prepared data."
        )
    if download:
        builder.download_and_prepare()
    text_key, label_key = _tfds_keys(builder.info.features)
    if text_key is None or label_key is None:
        raise DataError(f"tensorflow-datasets {name!r} has no text feature and class label: {list(builder.info.features)}.")

    def read(split):
        texts, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            texts.append(example[text_key].decode("utf-8"))
            labels.append(int(example[label_key]))
        return Split(texts, np.array(labels, "int64"))

    recorded = set(builder.info.splits)  # Empty when the metadata is not written.

    def read_if_present(split):
        if recorded and split not in recorded:
            return None
        try:
            return read(split)
        except (KeyError, ValueError):  # Unknown split.
            return None

    train = read("train")
    test = read_if_present("test")
    validation = read_if_present("validation")
    if test is None or np.all(test.labels < 0):
        test, validation = validation, None
    if test is None:
        train, test = split_off(train, holdout_fraction, seed + 1)
    if validation is None:
        train, validation = split_off(train, holdout_fraction, seed + 2)
    return TextData(name.replace("/", "_"), train, validation, test, list(builder.info.features[label_key].names))


def load_dataset(dataset, *, validation_file=None, test_file=None, text_column=None, label_column=None,
                 data_dir=None, download=False, seed=0):
    """Loads `dataset`: a local file or folder, or a tensorflow-datasets name."""
    if os.path.exists(dataset):
        return local_dataset(dataset, validation_file, test_file, text_column, label_column, seed=seed)
    if dataset.endswith((".tsv", ".csv")):
        raise DataError(f"--dataset {dataset!r}: no such file or directory.")
    return tfds_dataset(dataset, data_dir, download, seed=seed)


# tf.data pipelines.


def bucket_lengths(max_length):
    """Padded lengths: powers of two from 8, then `max_length` itself."""
    lengths = [n for n in (8, 16, 32, 64, 128, 256, 512, 1024, 2048) if n < max_length]
    return lengths + [max_length]


def make_vectorizer(texts, vocab_size):
    """A `TextVectorization` adapted on batched training text in tf.data."""
    import keras
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(max_tokens=vocab_size, output_mode="int")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(2048).prefetch(tf.data.AUTOTUNE))
    return vectorizer


def make_pipeline(split, vectorizer, max_length, batch_size, shuffle_seed=None):
    """Batches of `(token_ids, labels)`, bucketed by length.

    Texts are vectorized once and cached; each batch is padded (with id 0)
    to the smallest of `bucket_lengths(max_length)` that holds its longest
    text, after truncation to `max_length`. A handful of shapes keeps
    `tf.function` and XLA from recompiling, and short texts do not pay for
    the longest one. Pass `shuffle_seed` to reshuffle each epoch.
    """
    import tensorflow as tf

    def vectorize(text, label):
        return vectorizer(text[None])[0, :max_length], label

    ds = tf.data.Dataset.from_tensor_slices((split.texts, split.labels))
    ds = ds.map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    lengths = bucket_lengths(max_length)
    ds = ds.bucket_by_sequence_length(
        lambda ids, label: tf.shape(ids)[0],
        bucket_boundaries=[n + 1 for n in lengths],
        bucket_batch_sizes=[batch_size] * (len(lengths) + 1),
        pad_to_bucket_boundary=True,  # Pads to a boundary minus one: `lengths`.
    )
    batches = sum(1 for _ in ds)  # Bucketing hides the count from Keras.
    return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)
