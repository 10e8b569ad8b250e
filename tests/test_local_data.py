import os
import warnings

import pytest

from keras_posemb import data
from keras_posemb.errors import ArgumentError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def rows(count, template="{i}\tsentence number {i}"):
    return "".join(template.format(i=i, label=i % 2) + "\n" for i in range(count))


def test_tsv_with_common_column_names_and_integer_labels(tmp_path):
    train = write(tmp_path / "train.tsv", "label\tsentence\n" + rows(40, "{label}\tsentence {i}"))
    test = write(tmp_path / "dev.tsv", "label\tcontent\n1\ta good film\n0\ta bad film\n")
    loaded = data.local_dataset(train, test_file=test, seed=0)
    assert loaded.name == "train" and loaded.class_names == ["0", "1"]
    assert loaded.test.texts == ["a good film", "a bad film"]
    assert loaded.test.labels.tolist() == [1, 0]
    assert len(loaded.train) + len(loaded.validation) == 40 and len(loaded.validation) == 4
    assert set(loaded.train.texts).isdisjoint(loaded.validation.texts)
    again = data.local_dataset(train, test_file=test, seed=0)
    assert again.validation.texts == loaded.validation.texts


def test_csv_with_string_labels_quotes_and_named_columns(tmp_path):
    body = "".join(
        f'{i},"text, with comma {i}",{"sports" if i % 3 else "world"}\n' for i in range(30)
    )
    path = write(tmp_path / "news.csv", "id,body_text,topic\n" + body)
    loaded = data.local_dataset(path, text_column="body_text", label_column="topic", seed=1)
    assert loaded.class_names == ["sports", "world"]
    everything = loaded.train.texts + loaded.validation.texts + loaded.test.texts
    assert sorted(everything) == sorted(f"text, with comma {i}" for i in range(30))
    for text, label in zip(loaded.train.texts, loaded.train.labels):
        i = int(text.rsplit(" ", 1)[1])
        assert loaded.class_names[label] == ("sports" if i % 3 else "world")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("bad.tsv", "label\ttext\n1\tfine\n0\n", r"bad.tsv, line 3: expected 2 fields, found 1"),
        (
            "bad.tsv",
            "label\ttext\n1\tfine\n1\tgood part\tsecond half\n",
            r"bad.tsv, line 3: expected 2 fields, found 3",
        ),
        (
            "bad.csv",
            "text,label\nfine,1\ngreat, fun movie,1\n",
            r"bad.csv, line 3: expected 2 fields, found 3",
        ),
        ("bad.tsv", "label\ttext\n1\tfine\n0\t  \n", r"bad.tsv, line 3: empty text"),
        ("bad.tsv", "label\ttext\n1\tfine\n\tno label\n", r"bad.tsv, line 3: empty label"),
        ("bad.tsv", "score\twords\n1\tfine\n", r"cannot find the text column.*`text_column`"),
        ("bad.tsv", "", r"empty"),
        ("bad.tsv", "label\ttext\n", r"no data rows"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, name, content, match):
    with pytest.raises(data.DataError, match=match):
        data.local_dataset(write(tmp_path / name, content))


def test_label_column_of_text_is_worth_a_warning(tmp_path):
    body = "".join(f"sentence {i},label text {i}\n" for i in range(40))
    path = write(tmp_path / "swapped.csv", "label,text\n" + body)
    with pytest.warns(data.DataWarning, match=r"swapped.csv: the label column has 40 classes, 40"):
        data.local_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.local_dataset(
            write(tmp_path / "fine.tsv", "label\ttext\n" + rows(40, "{label}\tt {i}"))
        )


def test_hidden_folders_and_files_are_not_classes_or_examples(tmp_path):
    for name in ("neg", "pos", ".ipynb_checkpoints"):
        (tmp_path / name).mkdir()
        for i in range(10):
            write(tmp_path / name / f"{i}.txt", f"{name} review {i}\n")
    write(tmp_path / "pos" / ".hidden.txt", "not an example")
    loaded = data.local_dataset(str(tmp_path), seed=0)
    assert loaded.class_names == ["neg", "pos"]
    everything = loaded.train.texts + loaded.validation.texts + loaded.test.texts
    assert len(everything) == 20 and "not an example" not in everything
    for split in (loaded.train, loaded.validation, loaded.test):
        for text, label in zip(split.texts, split.labels):
            assert text.startswith(loaded.class_names[label])


def test_class_folder_without_text_files(tmp_path):
    (tmp_path / "neg").mkdir()
    (tmp_path / "pos").mkdir()
    write(tmp_path / "neg" / "0.txt", "text")
    with pytest.raises(data.DataError, match=r"pos: no .txt files"):
        data.local_dataset(str(tmp_path))


def test_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path / "bom.tsv", "\ufefflabel\ttext\n" + rows(20, "{label}\tt {i}"))
    assert data.local_dataset(path).class_names == ["0", "1"]


def test_bytes_that_are_not_utf8_name_the_line_and_the_way_out(tmp_path):
    content = ("label\ttext\n1\tfine\n0\tcaf\u00e9 au lait\n" + rows(10, "{label}\tt {i}")).encode(
        "latin-1"
    )
    path = write(tmp_path / "latin.tsv", content)
    with pytest.raises(
        data.DataError, match=r"latin.tsv, line 3: byte b'\\xe9' is not valid utf-8.*`encoding`"
    ):
        data.local_dataset(path)
    loaded = data.local_dataset(path, encoding="latin-1", seed=0)
    assert "café au lait" in loaded.train.texts + loaded.validation.texts + loaded.test.texts


def test_fields_longer_than_the_csv_module_default_are_read(tmp_path):
    long_text = "word " * 60_000  # 300,000 characters; csv stops at 131,072.
    path = write(tmp_path / "long.csv", f"text,label\n{long_text},1\n" + rows(10, "t {i},{label}"))
    loaded = data.local_dataset(path, seed=0)
    everything = loaded.train.texts + loaded.validation.texts + loaded.test.texts
    assert long_text.strip() in everything


def test_unclosed_quote_names_the_line_it_opens_on_and_quotes_little(tmp_path):
    body = (
        rows(3, "fine {i},{label}") + '"this quote never closes,1\n' + rows(500, "more {i},{label}")
    )
    path = write(tmp_path / "quote.csv", "text,label\n" + body)
    with pytest.raises(data.DataError) as caught:
        data.local_dataset(path)
    message = str(caught.value)
    assert "quote.csv, line 5" in message and "quote" in message and len(message) < 300


def test_quote_closed_rows_later_says_where_the_row_started(tmp_path):
    body = 'fine,1\n"opens here,1\nok,0\nand" closes,1\n' + rows(10, "t {i},{label}")
    path = write(tmp_path / "late.csv", "text,label\n" + body)
    with pytest.raises(data.DataError, match=r"late.csv, line 3: "):
        data.local_dataset(path)


@pytest.mark.parametrize("name", ["reviews.txt", "reviews"])
def test_files_of_unknown_format_are_not_guessed(tmp_path, name):
    path = write(tmp_path / name, "a plain text file, with a comma\n")
    with pytest.raises(
        data.DataError, match=r"cannot tell the format.*expected a .tsv or .csv file"
    ):
        data.local_dataset(path)


def test_unknown_label_in_test_file(tmp_path):
    train = write(tmp_path / "train.tsv", "label\ttext\n" + rows(10, "{label}\tt {i}"))
    test = write(tmp_path / "test.tsv", "label\ttext\n1\tok\n7\tnew class\n")
    with pytest.raises(data.DataError, match=r"test.tsv, line 3: unknown label '7'"):
        data.local_dataset(train, test_file=test)


def test_too_few_examples_to_hold_out(tmp_path):
    path = write(tmp_path / "tiny.tsv", "label\ttext\n0\ta\n1\tb\n")
    with pytest.raises(data.DataError, match=r"tiny.tsv: 2 examples are too few"):
        data.local_dataset(path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"dataset": "does/not/exist.tsv"},
            r"`dataset` must be an existing file or directory; received dataset='does/not/exist.tsv'",
        ),
        (
            {"dataset": "order", "test_file": "x.tsv"},
            r"local files only; received test_file='x.tsv'",
        ),
    ],
)
def test_dataset_arguments_are_checked_before_reading(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        data.load_dataset(**kwargs)


# Labels (issue 18, item 6).


def labelled(tmp_path, labels, name="labels.tsv"):
    """A table with `labels` in turn, 8 rows each."""
    body = "".join(f"{label}\trow {i} of {label!r}\n" for label in labels for i in range(8))
    return write(tmp_path / name, "label\ttext\n" + body)


@pytest.mark.parametrize(
    "labels, classes",
    [
        (["1", "1.0", "0", "0.0"], ["0", "1"]),
        (["1", "01", "0"], ["0", "1"]),
        (["+2", "2.00", "10", "-1", "1e1"], ["-1", "2", "10"]),  # Sorted as numbers.
        (["0.5", "0.50", "1"], ["0.5", "1"]),
    ],
)
def test_labels_that_are_the_same_number_are_one_class(tmp_path, labels, classes):
    loaded = data.local_dataset(labelled(tmp_path, labels), seed=0)
    assert loaded.class_names == classes
    every = zip(loaded.train.texts, loaded.train.labels)
    for text, label in every:  # Each row's class is the number it was written as.
        written = text.split(" of ")[1].strip("'")
        assert float(loaded.class_names[label]) == float(written)


def test_a_held_out_file_may_spell_a_number_otherwise(tmp_path):
    train = labelled(tmp_path, ["0", "1"])
    test = write(tmp_path / "test.tsv", "label\ttext\n1.0\ta\n00\tb\n")
    assert data.local_dataset(train, test_file=test).test.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    "labels, spellings",
    [(["Pos", "pos", "neg"], "'Pos', 'pos'"), (["very good", "very  good", "bad"], "'very  good', 'very good'")],
)  # fmt: skip
def test_labels_that_differ_in_case_or_spacing_are_worth_a_warning(tmp_path, labels, spellings):
    with pytest.warns(data.DataWarning, match=rf"the labels {spellings} differ only in case"):
        loaded = data.local_dataset(labelled(tmp_path, labels), seed=0)
    assert len(loaded.class_names) == 3  # Kept apart, as written.


@pytest.mark.parametrize(
    "label, match",
    [
        ("po\x00s", r"line 2: the label 'po\\x00s' holds a control character"),
        ("neg\x1b", r"line 2: the label 'neg\\x1b' holds a control character"),
        ("--1", r"line 2: the label '--1' is neither a number nor a word"),
        ("²", r"line 2: the label '²' is neither a number nor a word"),
        ("?", r"line 2: the label '\?' is neither a number nor a word"),
    ],
)
def test_labels_that_are_not_labels_name_the_line(tmp_path, label, match):
    with pytest.raises(data.DataError, match=match):
        data.local_dataset(labelled(tmp_path, [label, "pos"]))


def test_a_non_label_is_one_error_line_from_the_trainer(tmp_path, capsys):
    from helpers import TINY_LOCAL_FLAGS, run_main

    from keras_posemb.cli import train

    path = labelled(tmp_path, ["--1", "1"])
    argv = [*TINY_LOCAL_FLAGS, "--dataset", path, "--output-dir", str(tmp_path / "run")]
    status, _, err = run_main(train.main, argv, capsys)
    assert status == 2 and err.count("\n") == 1 and "neither a number nor a word" in err


# Class folders (issue 18, item 7).


def class_folders(tmp_path, per_class=4):
    for name in ("neg", "pos"):
        (tmp_path / name).mkdir()
        for i in range(per_class):
            write(tmp_path / name / f"{i}.txt", f"{name} review {i}")
    return tmp_path


def test_txt_in_any_case_and_nested_folders_are_read_other_files_counted(tmp_path):
    root = class_folders(tmp_path)
    write(root / "pos" / "LOUD.TXT", "pos upper case suffix")
    (root / "pos" / "more" / "deeper").mkdir(parents=True)
    write(root / "pos" / "more" / "deeper" / "n.Txt", "pos nested")
    (root / "neg" / "folder.txt").mkdir()  # A folder with a .txt name is a folder.
    write(root / "neg" / "folder.txt" / "inside.txt", "neg inside")
    write(root / "neg" / "notes.md", "not an example")
    with pytest.warns(
        data.DataWarning, match=r"skipped 1 file\(s\) without a .txt suffix .*notes.md"
    ):
        loaded = data.local_dataset(str(root), seed=0)
    everything = loaded.train.texts + loaded.validation.texts + loaded.test.texts
    assert {"pos upper case suffix", "pos nested", "neg inside"} <= set(everything)
    assert len(everything) == 11 and "not an example" not in everything


def test_a_symlink_loop_does_not_hang_the_reader(tmp_path):
    root = class_folders(tmp_path)
    (root / "pos" / "loop").symlink_to(root / "pos", target_is_directory=True)
    loaded = data.local_dataset(str(root), seed=0)
    assert len(loaded.train) + len(loaded.validation) + len(loaded.test) == 8


@pytest.mark.parametrize("kind", ["fifo", "device", "looping link"])
def test_what_is_not_a_regular_file_is_an_error_never_opened(tmp_path, kind):
    root = class_folders(tmp_path)
    path = root / "pos" / "odd.txt"
    if kind == "fifo":
        os.mkfifo(path)  # Opening it would block until a writer comes.
    elif kind == "device":
        path.symlink_to("/dev/zero")  # Reading it would never end.
    else:
        path.symlink_to(path)
    match = {
        "fifo": "is a FIFO",
        "device": "is a character device",
        "looping link": "cannot be read",
    }
    with pytest.raises(data.DataError, match=rf"odd.txt:? {match[kind]}"):
        data.local_dataset(str(root))


def test_a_file_larger_than_the_cap_is_an_error(tmp_path, monkeypatch):
    from keras_posemb.data import local

    root = class_folders(tmp_path)
    write(root / "pos" / "big.txt", "word " * 100)
    monkeypatch.setattr(local, "MAX_EXAMPLE_BYTES", 400)
    with pytest.raises(data.DataError, match=r"big.txt holds more than 400 bytes"):
        data.local_dataset(str(root))
    table = labelled(tmp_path, ["0", "1"])
    monkeypatch.setattr(local, "MAX_TABLE_BYTES", 100)
    with pytest.raises(data.DataError, match=r"labels.tsv holds more than 100 bytes"):
        data.local_dataset(table)


# One line, not a traceback: data (issue 18).


def test_a_header_that_names_a_column_twice_is_an_error(tmp_path):
    path = write(tmp_path / "twice.tsv", "label\ttext\ttext\n1\ta\tb\n")
    with pytest.raises(data.DataError, match=r"twice.tsv, line 1: .*column 'text' more than once"):
        data.local_dataset(path)


def test_a_held_out_file_that_is_the_training_file_is_worth_a_warning(tmp_path):
    path = labelled(tmp_path, ["0", "1"])
    with pytest.warns(data.DataWarning, match=r"the test file is the training file"):
        data.local_dataset(path, test_file=path)
    with pytest.warns(data.DataWarning, match=r"the validation file is the training file"):
        data.local_dataset(path, validation_file=path)


def test_texts_of_punctuation_only_are_one_error_line(tmp_path, capsys):
    from helpers import TINY_LOCAL_FLAGS, run_main

    from keras_posemb.cli import train

    body = "".join(f"{i % 2}\t{'!?' * (i % 3 + 1)}\n" for i in range(40))
    path = write(tmp_path / "marks.tsv", "label\ttext\n" + body)
    argv = [*TINY_LOCAL_FLAGS, "--dataset", path, "--output-dir", str(tmp_path / "run")]
    status, _, err = run_main(train.main, argv, capsys)
    assert status == 2 and err.count("\n") == 1
    assert "training texts hold no words once lower-cased and stripped of punctuation" in err


def test_text_data_has_one_fingerprint_per_content():
    """Equal texts, labels and class names: equal fingerprints; any one of
    them changed, or a text moved between splits, another."""
    import numpy as np

    from keras_posemb.data.text_data import Split, TextData

    def made(texts=("a b", "c d"), labels=(0, 1), classes=("no", "yes"), test=("e",)):
        train = Split(list(texts), np.array(labels))
        return TextData(
            "t",
            train,
            Split(["f"], np.array([0])),
            Split(list(test), np.ones(len(test), int)),
            list(classes),
        )

    first = made().fingerprint()
    assert made().fingerprint() == first
    assert (
        len(
            {
                first,
                made(texts=("a b", "c e")).fingerprint(),
                made(labels=(1, 1)).fingerprint(),
                made(classes=("yes", "no")).fingerprint(),
                made(texts=("a b",), labels=(0,), test=("e", "c d")).fingerprint(),
            }
        )
        == 5
    )
