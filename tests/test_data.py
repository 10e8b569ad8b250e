import collections
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_posemb import data

SIZES = 2000, 400, 400


@pytest.fixture(scope="module")
def order():
    return data.order_dataset(*SIZES, seed=3)


def expected_label(sentence):
    """The label re-derived from the words: is the actor the larger animal?"""
    words = sentence.split()
    animals = [w for w in words if w in data.ANIMALS]
    assert len(animals) == 2, sentence
    first, second = (data.ANIMALS.index(a) for a in animals)
    passive = "was" in words and "by" in words
    actor, acted_on = (second, first) if passive else (first, second)
    return int(actor > acted_on)


def test_order_labels_follow_from_word_order(order):
    for split in (order.train, order.validation, order.test):
        assert [expected_label(t) for t in split.texts] == split.labels.tolist()


def test_order_every_word_multiset_has_both_labels_equally(order):
    for split in (order.train, order.validation, order.test):
        by_words = collections.defaultdict(list)
        for text, label in zip(split.texts, split.labels):
            by_words[tuple(sorted(text.split()))].append(label)
        for labels in by_words.values():
            assert sorted(labels) == [0, 1] * (len(labels) // 2) or labels.count(0) == labels.count(1)
        # So any classifier of the word multiset scores exactly 50%.
        assert split.labels.mean() == 0.5


def test_order_splits_share_no_sentence_and_have_the_asked_sizes(order):
    sets = [set(s.texts) for s in (order.train, order.validation, order.test)]
    assert [len(s) for s in sets] == list(SIZES)
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_order_grammar_and_lengths(order):
    lengths = [len(t.split()) for t in order.train.texts]
    assert min(lengths) >= 5 and max(lengths) <= 24 and len(set(lengths)) > 10
    words = set(" ".join(order.train.texts).split())
    assert set(data.ANIMALS) <= words and set(data.VERBS) <= words and set(data.ADJECTIVES) <= words
    assert np.mean(["was" in t.split() for t in order.train.texts]) == pytest.approx(0.5, abs=0.05)
    long = data.order_dataset(100, 0, 0, min_words=30, max_words=40, seed=1)
    assert all(30 <= len(t.split()) <= 40 for t in long.train.texts)


def test_order_is_deterministic_given_the_seed():
    a, b, c = (data.order_dataset(200, 20, 20, seed=s) for s in (5, 5, 6))
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    assert a.train.texts != c.train.texts


@pytest.mark.parametrize(
    "kwargs, match",
    [({"min_words": 4}, "min_words=4"), ({"train_size": 3}, "even"), ({"max_words": 5, "train_size": 100000}, "distinct")],
)
def test_order_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.order_dataset(**{"validation_size": 0, "test_size": 0, **kwargs})


# Local files.


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_tsv_with_common_column_names_and_integer_labels(tmp_path):
    train = write(tmp_path / "train.tsv", "label\tsentence\n" + "".join(f"{i % 2}\tsentence number {i}\n" for i in range(40)))
    test = write(tmp_path / "dev.tsv", "label\tcontent\n1\ta good film\n0\ta bad film\n")
    loaded = data.local_dataset(train, test_file=test, seed=0)
    assert loaded.class_names == ["0", "1"]
    assert loaded.test.texts == ["a good film", "a bad film"] and loaded.test.labels.tolist() == [1, 0]
    assert len(loaded.train) + len(loaded.validation) == 40 and len(loaded.validation) == 4
    assert set(loaded.train.texts).isdisjoint(loaded.validation.texts)
    again = data.local_dataset(train, test_file=test, seed=0)
    assert again.validation.texts == loaded.validation.texts


def test_csv_with_string_labels_quotes_and_named_columns(tmp_path):
    rows = "".join(f'{i},"text, with comma {i}",{"sports" if i % 3 else "world"}\n' for i in range(30))
    path = write(tmp_path / "news.csv", "id,body_text,topic\n" + rows)
    loaded = data.local_dataset(path, text_column="body_text", label_column="topic", seed=1)
    assert loaded.class_names == ["sports", "world"]
    everything = loaded.train.texts + loaded.validation.texts + loaded.test.texts
    assert sorted(everything) == sorted(f"text, with comma {i}" for i in range(30))
    for text, label in zip(loaded.train.texts, loaded.train.labels):
        i = int(text.rsplit(" ", 1)[1])
        assert loaded.class_names[label] == ("sports" if i % 3 else "world")


@pytest.mark.parametrize(
    "content, match",
    [
        ("label\ttext\n1\tfine\n0\n", r"bad.tsv, line 3: expected 2 fields"),
        ("label\ttext\n1\tfine\n0\t  \n", r"bad.tsv, line 3: empty text"),
        ("label\ttext\n1\tfine\n\tno label\n", r"bad.tsv, line 3: empty label"),
        ("score\twords\n1\tfine\n", r"cannot find the text column"),
        ("", r"empty"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, content, match):
    with pytest.raises(data.DataError, match=match):
        data.local_dataset(write(tmp_path / "bad.tsv", content))


def test_unknown_label_in_test_file(tmp_path):
    train = write(tmp_path / "train.tsv", "label\ttext\n" + "".join(f"{i % 2}\tt {i}\n" for i in range(10)))
    test = write(tmp_path / "test.tsv", "label\ttext\n1\tok\n7\tnew class\n")
    with pytest.raises(data.DataError, match=r"test.tsv, line 3: unknown label '7'"):
        data.local_dataset(train, test_file=test)


def test_class_per_folder_directory(tmp_path):
    for name in ("neg", "pos"):
        (tmp_path / name).mkdir()
        for i in range(10):
            write(tmp_path / name / f"{i}.txt", f"{name} review {i}\n")
    loaded = data.local_dataset(str(tmp_path), seed=0)
    assert loaded.class_names == ["neg", "pos"]
    for split in (loaded.train, loaded.validation, loaded.test):
        for text, label in zip(split.texts, split.labels):
            assert text.startswith(loaded.class_names[label])
    assert len(loaded.train) == 16


def test_missing_file():
    with pytest.raises(data.DataError, match="no such file"):
        data.load_dataset("does/not/exist.tsv")


# tensorflow-datasets, offline.


def fake_splits(splits, text_key):
    """An `as_dataset` for tfds.testing.mock_data with the given splits only."""

    def as_dataset(self, split, **kwargs):
        import tensorflow as tf

        if split not in splits:
            raise ValueError(f"Unknown split {split!r}")
        count, label = splits[split]
        examples = {text_key: [f"{split} {i}" for i in range(count)], "label": [label] * count}
        return tf.data.Dataset.from_tensor_slices(examples)

    return as_dataset


def test_tfds_uses_test_split_and_holds_out_validation():
    splits = {"train": (40, 1), "test": (10, 0), "unsupervised": (5, -1)}
    with tfds.testing.mock_data(as_dataset_fn=fake_splits(splits, "text")):
        loaded = data.load_dataset("imdb_reviews", download=True, seed=0)
    assert loaded.class_names == ["neg", "pos"]
    assert loaded.test.texts == [f"test {i}" for i in range(10)]
    assert len(loaded.train) == 36 and len(loaded.validation) == 4
    assert all(t.startswith("train") for t in loaded.train.texts + loaded.validation.texts)


def test_tfds_random_mock_data_loads():
    with tfds.testing.mock_data(num_examples=6):
        loaded = data.load_dataset("ag_news_subset", download=True)
    assert len(loaded.class_names) == 4 and all(isinstance(t, str) for t in loaded.train.texts)


def test_tfds_hidden_test_labels_fall_back_to_validation():
    splits = {"train": (30, 1), "validation": (8, 0), "test": (8, -1)}
    with tfds.testing.mock_data(as_dataset_fn=fake_splits(splits, "sentence")):
        loaded = data.load_dataset("glue/sst2", download=True, seed=0)
    assert loaded.test.texts == [f"validation {i}" for i in range(8)]
    assert all(t.startswith("train") for t in loaded.validation.texts)
    assert loaded.name == "glue_sst2"


def test_tfds_not_prepared_fails_fast_with_advice(tmp_path):
    start = time.perf_counter()
    with pytest.raises(data.DataError, match="not prepared.*--download"):
        data.load_dataset("imdb_reviews", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 30


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(data.DataError, match="not a file, a directory or a known"):
        data.load_dataset("no_such_dataset_xyz", data_dir=str(tmp_path))


# Pipelines.


def test_pipeline_buckets_pads_and_truncates():
    texts = [" ".join(["w"] * n) for n in (1, 3, 9, 17, 40, 70)] * 5
    split = data.Split(texts, np.arange(len(texts)) % 2)
    vectorizer = data.make_vectorizer(texts, 100)
    pipeline = data.make_pipeline(split, vectorizer, max_length=32, batch_size=4)
    assert data.bucket_lengths(32) == [8, 16, 32]
    seen = 0
    for ids, labels in pipeline:
        ids = ids.numpy()
        assert ids.shape[1] in (8, 16, 32)
        lengths = (ids != 0).sum(axis=1)
        assert lengths.max() <= ids.shape[1] and (ids.shape[1] == 8 or lengths.max() > ids.shape[1] // 2)
        seen += len(ids)
    assert seen == len(texts) and int(pipeline.cardinality()) == sum(1 for _ in pipeline)
    longest = max((ids.numpy() != 0).sum(axis=1).max() for ids, _ in pipeline)
    assert longest == 32
