"""tensorflow-datasets, offline: `tfds.testing.mock_data` stands in for the data."""

import socket
import time

import pytest
import tensorflow_datasets as tfds

from keras_posemb import data
from keras_posemb.data import tfds as tfds_module


@pytest.fixture(autouse=True)
def no_network_probe(monkeypatch):
    """Mocked data needs no network; the probe is tested on its own below."""
    monkeypatch.setattr(tfds_module, "check_network", lambda: None)


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


def test_uses_test_split_and_holds_out_validation():
    splits = {"train": (40, 1), "test": (10, 0), "unsupervised": (5, -1)}
    with tfds.testing.mock_data(as_dataset_fn=fake_splits(splits, "text")):
        loaded = data.load_dataset("imdb_reviews", download=True, seed=0)
    assert loaded.class_names == ["neg", "pos"]
    assert loaded.test.texts == [f"test {i}" for i in range(10)]
    assert len(loaded.train) == 36 and len(loaded.validation) == 4
    assert all(t.startswith("train") for t in loaded.train.texts + loaded.validation.texts)


def test_random_mock_data_loads():
    with tfds.testing.mock_data(num_examples=6):
        loaded = data.load_dataset("ag_news_subset", download=True)
    assert len(loaded.class_names) == 4 and all(isinstance(t, str) for t in loaded.train.texts)


def test_hidden_test_labels_fall_back_to_validation():
    splits = {"train": (30, 1), "validation": (8, 0), "test": (8, -1)}
    with tfds.testing.mock_data(as_dataset_fn=fake_splits(splits, "sentence")):
        loaded = data.load_dataset("glue/sst2", download=True, seed=0)
    assert loaded.test.texts == [f"validation {i}" for i in range(8)]
    assert all(t.startswith("train") for t in loaded.validation.texts)
    assert loaded.name == "glue_sst2" == data.dataset_name("glue/sst2")


def test_not_prepared_fails_fast_with_advice(tmp_path):
    start = time.perf_counter()
    with pytest.raises(data.DataError, match=r"not prepared.*download=True.*`data_dir`"):
        data.load_dataset("imdb_reviews", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 30


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(data.DataError, match="not a file, a directory or a known"):
        data.load_dataset("no_such_dataset_xyz", data_dir=str(tmp_path))


def closed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]  # Nothing listens once it is closed.


def test_download_without_network_fails_fast_with_advice(monkeypatch, tmp_path):
    monkeypatch.undo()  # The real probe, pointed at a port where nothing answers.
    url = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setattr(tfds_module, "NETWORK_PROBE_URL", url)
    start = time.perf_counter()
    with pytest.raises(data.DataError, match=r"Cannot download.*point `data_dir` at it"):
        data.load_dataset("imdb_reviews", data_dir=str(tmp_path), download=True)
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "downloads").exists()
