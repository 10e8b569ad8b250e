"""Local data: a `.tsv`/`.csv` file with a header row, or class folders.

Every problem in a file is reported with the file name and line: a row with
too few or too many fields, an empty text or label, bytes that are not in
the file's encoding, a quote that is never closed, a label that is neither
a number nor a word. Nothing is silently cut, guessed or skipped, except
blank lines and hidden files and folders.

Labels: numbers that are equal are one class (`1`, `1.0` and `01` are class
`1`); other labels are words (they hold a letter) and are taken as written,
with a warning when two differ only in case or spacing (`Pos`, `pos`).

Class folders: `DIR/<class>/` holds the class's examples, one per regular
file whose name ends in `.txt` in any case (`.TXT` too), in nested folders
too, as `keras.utils.text_dataset_from_directory` reads them. Other files
are skipped with a warning that counts them; a FIFO, device or socket with
a `.txt` name is an error (it is never opened); symbolic links to folders
are not followed, so a link loop cannot hang the reader.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import stat
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from keras_posemb.data.text_data import Split, TextData, dataset_name, split_off
from keras_posemb.errors import DataError, DataWarning, Setting

TEXT_COLUMNS = ("text", "sentence", "content", "review", "document", "description", "body")
LABEL_COLUMNS = ("label", "labels", "class", "sentiment", "target", "category")
DELIMITERS = {".tsv": "\t", ".csv": ","}
FILE_TYPES = "a .tsv or .csv file with a header row, or a directory with one subdirectory of .txt files per class"
# How much of a bad row an error message quotes.
PREVIEW_CHARACTERS = 80
# The most one file may hold: a data table, and one example of a class folder.
MAX_TABLE_BYTES = 2**30
MAX_EXAMPLE_BYTES = 10 * 2**20
# A number as a label: ASCII digits only, so `²` and `--1` are not numbers.
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def _preview(value):
    text = repr(value)
    if len(text) <= PREVIEW_CHARACTERS:
        return text
    return text[:PREVIEW_CHARACTERS] + f"... ({len(text):,} characters)"


def _file_kind(mode: int) -> str:
    for test, kind in [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")]:  # fmt: skip
        if test(mode):
            return kind
    return "not a regular file"


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path`, if it holds at most `limit`.

    A FIFO or a device is never opened (it could block, or never end).

    Raises:
        DataError: for what is not a regular file, or holds more.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror}).") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path} is {_file_kind(mode)}; expected a regular text file.")
    with open(path, "rb") as file:
        raw = file.read(limit + 1)
    if len(raw) > limit:
        raise DataError(
            f"{path} holds more than {limit:,} bytes, the most one file may hold here; "
            "split it, or keep only the texts to train on."
        )
    return raw


def read_text_file(path: Path, encoding: str = "utf-8", limit: int | None = None) -> str:
    """The file's text; a UTF-8 byte-order mark is dropped.

    Raises:
        DataError: naming the line of the first byte that is not in
            `encoding`, or when the file is not a regular file of at most
            `limit` bytes (default: `MAX_TABLE_BYTES`).
    """
    raw = read_bytes(path, MAX_TABLE_BYTES if limit is None else limit)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: byte {raw[error.start : error.start + 1]!r} is not valid "
            f"{error.encoding} ({error.reason}). Save the file as UTF-8, or pass ",
            Setting("encoding"),
            " with its encoding (for example latin-1).",
        ) from None


@contextlib.contextmanager
def _no_field_size_limit():
    """Lets the csv module read fields of any size (its default stops at 128 KiB)."""
    previous = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _rows(text, delimiter, path):
    """`[(first_line, last_line, row)]` for each non-blank row."""
    # Tokenized .tsv files (SST-2, CR) hold bare quotes: tabs never quote.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True
    )
    rows, first_line = [], 1
    with _no_field_size_limit():
        try:
            for row in reader:
                if row:
                    rows.append((first_line, reader.line_num, row))
                first_line = reader.line_num + 1
        except csv.Error as error:
            raise DataError(f"{path}, line {first_line}: {_quote_hint(str(error))}") from None
    return rows


def _quote_hint(message):
    # The csv module has one exception type; its text tells the cases apart.
    if "end of data" in message:
        return "a quoted field starts here and is never closed."
    return f"malformed quoting ({message}); quote fields that hold a comma or a quote."


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
        f"{path}: cannot find the {role} column; the header has {header}. Name it one of "
        f"{list(choices)} or pass ",
        Setting(f"{role}_column"),
        ".",
    )


def read_table(
    path: str | os.PathLike,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
) -> tuple[list[str], list[str], list[str]]:
    """Reads a `.tsv` or `.csv` file with a header row.

    Returns:
        `(texts, raw_labels, places)`: labels are still strings; places say
        "file, line N" for error messages.

    Raises:
        DataError: naming the file and line of a malformed row (too few or
            too many fields, empty text or label, bad quoting or bytes).
    """
    path = Path(path)
    delimiter = DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        raise DataError(
            f"{path}: cannot tell the format from {path.suffix or 'no suffix'!r}; expected {FILE_TYPES}."
        )
    rows = _rows(read_text_file(path, encoding), delimiter, path)
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header row.")
    (_, _, header), rows = rows[0], rows[1:]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(
            f"{path}, line 1: the header names the column {repeated[0]!r} more than once; "
            "columns need distinct names."
        )
    text_index = _pick_column(header, text_column, TEXT_COLUMNS, path, "text")
    label_index = _pick_column(header, label_column, LABEL_COLUMNS, path, "label")
    texts, labels, places = [], [], []
    for first, last, row in rows:
        place = f"{path}, line {first}"
        if len(row) != len(header):
            spans = (
                f" (the row runs on to line {last}: is a quote left open?)" if last > first else ""
            )
            raise DataError(
                f"{place}: expected {len(header)} fields, found {len(row)}{spans}: {_preview(row)}."
            )
        text, label = row[text_index].strip(), row[label_index].strip()
        if not text:
            raise DataError(f"{place}: empty text.")
        if not label:
            raise DataError(f"{place}: empty label.")
        texts.append(text)
        labels.append(label)
        places.append(place)
    if not texts:
        raise DataError(f"{path}: no data rows after the header.")
    return texts, labels, places


def _hidden(name: str) -> bool:
    # Hidden entries (.ipynb_checkpoints/, .DS_Store) are never data.
    return name.startswith(".")


def _class_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """`(examples, skipped)`: the `.txt` entries under `folder` (nested folders
    too, symbolic links to folders not followed) and the other files."""
    examples, skipped = [], []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not _hidden(name))
        for name in sorted(names):
            if not _hidden(name):
                path = Path(root) / name
                (examples if path.suffix.lower() == ".txt" else skipped).append(path)
    return examples, skipped


def read_class_folders(
    directory: str | os.PathLike, encoding: str = "utf-8"
) -> tuple[list[str], list[str], list[str]]:
    """Reads `directory/<class>/**/*.txt` (the text_dataset_from_directory layout).

    The rules are the module's: `.txt` in any case, nested folders read,
    hidden entries ignored, other files skipped with a warning.

    Returns:
        `(texts, raw_labels, file_names)`.
    """
    directory = Path(directory)
    classes = sorted(
        entry for entry in directory.iterdir() if entry.is_dir() and not _hidden(entry.name)
    )
    if len(classes) < 2:
        raise DataError(
            f"{directory}: expected one subdirectory per class (at least 2); found {[c.name for c in classes]}."
        )
    texts, labels, names, skipped = [], [], [], []
    for folder in classes:
        examples, others = _class_files(folder)
        skipped += others
        if not examples:
            raise DataError(f"{folder}: no .txt files in this class folder.")
        for file in examples:
            text = read_text_file(file, encoding, MAX_EXAMPLE_BYTES).strip()
            if not text:
                raise DataError(f"{file}: empty text.")
            texts.append(text)
            labels.append(folder.name)
            names.append(str(file))
    if skipped:
        warnings.warn(
            f"{directory}: skipped {len(skipped)} file(s) without a .txt suffix "
            f"(e.g. {skipped[0]}); class folders hold .txt files.",
            DataWarning,
            stacklevel=3,
        )
    return texts, labels, names


def _read_local(path, text_column, label_column, encoding):
    """`(texts, labels, places)` of a file or class folders; labels canonical."""
    if Path(path).is_dir():
        texts, raw, places = read_class_folders(path, encoding)
    else:
        texts, raw, places = read_table(path, text_column, label_column, encoding)
    return texts, [canonical_label(label, place) for label, place in zip(raw, places)], places


def canonical_label(label: str, place: str) -> str:
    """The class a raw label names: a number in its shortest form (`1.0`,
    `01` and `+1` are `1`), a word as written.

    Raises:
        DataError: naming `place` for a label with control characters, or
            one that is neither a number nor a word (`--1`, `²`, `?`).
    """
    if any(unicodedata.category(character) == "Cc" for character in label):
        raise DataError(f"{place}: the label {label!r} holds a control character.")
    if NUMBER.fullmatch(label):
        number = float(label)
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if not any(unicodedata.category(character).startswith("L") for character in label):
        raise DataError(
            f"{place}: the label {label!r} is neither a number nor a word; expected labels "
            "such as 0, 1, 2.5 or pos, neg."
        )
    return label


def _is_number(label: str) -> bool:
    return NUMBER.fullmatch(label) is not None


def _class_names(raw_labels, path):
    names = sorted(set(raw_labels))
    if all(_is_number(name) for name in names):
        names = sorted(names, key=float)
    if len(names) < 2:
        raise DataError(f"{path}: expected at least 2 classes in the training data; found {names}.")
    _warn_if_labels_look_like_text(raw_labels, names, path)
    _warn_of_spelling_variants(names, path)
    return names


def _warn_of_spelling_variants(names, path):
    """Labels that differ only in case or spacing are usually one class."""
    spellings = {}
    for name in names:
        spellings.setdefault(" ".join(name.casefold().split()), []).append(name)
    for variants in spellings.values():
        if len(variants) > 1:
            warnings.warn(
                f"{path}: the labels {', '.join(map(repr, variants))} differ only in case or "
                "spacing, and are taken as different classes; write them alike if they are one.",
                DataWarning,
                stacklevel=4,
            )


def _warn_if_labels_look_like_text(raw_labels, names, path):
    """Many classes seen only once: usually text in the label column."""
    counts = np.unique(raw_labels, return_counts=True)[1]
    singletons = int(np.sum(counts == 1))
    if len(names) > 100 or (len(names) > 5 and singletons > len(names) / 2):
        warnings.warn(
            f"{path}: the label column has {len(names)} classes, {singletons} of them seen "
            f"once (e.g. {_preview(names[0])}); is it the right column, and are fields with "
            "a delimiter inside quoted?",
            DataWarning,
            stacklevel=4,
        )


def _encode_labels(raw_labels, places, class_names):
    index = {name: i for i, name in enumerate(class_names)}
    for label, place in zip(raw_labels, places):
        if label not in index:
            raise DataError(
                f"{place}: unknown label {label!r}; the training data has {class_names}."
            )
    return np.array([index[label] for label in raw_labels], "int64")


def _warn_if_held_out_is_training(path, held_out):
    for role, file in held_out.items():
        if file is not None and os.path.exists(file) and os.path.samefile(file, path):
            warnings.warn(
                f"the {role} file is the training file ({file}): its accuracy measures how well "
                "the model remembers what it was trained on, not how it does on new text.",
                DataWarning,
                stacklevel=3,
            )


def local_dataset(
    path: str | os.PathLike,
    validation_file: str | os.PathLike | None = None,
    test_file: str | os.PathLike | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    holdout_fraction: float = 0.1,
    seed: int = 0,
    encoding: str = "utf-8",
) -> TextData:
    """A `.tsv`/`.csv` file or a class-per-folder directory.

    Validation and test come from their own files when given; otherwise
    each is split off the training data with a seeded `holdout_fraction`.
    Labels may be strings or integers; class names are the training labels,
    sorted (numerically when they are all integers).
    """
    _warn_if_held_out_is_training(path, {"validation": validation_file, "test": test_file})
    texts, raw, places = _read_local(path, text_column, label_column, encoding)
    class_names = _class_names(raw, path)
    train = Split(texts, _encode_labels(raw, places, class_names))

    def held_out(file, offset):
        nonlocal train
        if file is not None:
            texts, raw, places = _read_local(file, text_column, label_column, encoding)
            return Split(texts, _encode_labels(raw, places, class_names))
        if len(train) < 3:
            raise DataError(
                f"{path}: {len(train)} examples are too few to hold out validation and test examples from."
            )
        train, part = split_off(train, holdout_fraction, seed + offset)
        return part

    test = held_out(test_file, 1)
    validation = held_out(validation_file, 2)
    return TextData(dataset_name(str(path)), train, validation, test, class_names)
