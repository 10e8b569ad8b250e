import numpy as np
import pytest

from keras_posemb import data

TEXTS = [" ".join(f"w{k}" for k in range(n)) for n in (1, 3, 9, 17, 40, 70)] * 5


@pytest.fixture(scope="module")
def split_and_vectorizer():
    split = data.Split(TEXTS, np.arange(len(TEXTS)) % 2)
    return split, data.make_vectorizer(TEXTS, 100)


def test_batches_are_bucketed_padded_and_truncated(split_and_vectorizer):
    split, vectorizer = split_and_vectorizer
    pipeline = data.make_pipeline(split, vectorizer, max_length=32, batch_size=4)
    assert data.bucket_lengths(32) == [8, 16, 32]
    seen = []
    for ids, _ in pipeline.as_numpy_iterator():
        lengths = (ids != 0).sum(axis=1)
        assert ids.shape[1] in (8, 16, 32)
        # The smallest bucket that holds the batch's longest text.
        assert ids.shape[1] == min(n for n in (8, 16, 32) if n >= lengths.max())
        seen.extend(lengths)
    want = [min(len(text.split()), 32) for text in TEXTS]
    assert sorted(seen) == sorted(want)
    assert int(pipeline.cardinality()) == sum(1 for _ in pipeline)


def test_an_ordered_pipeline_holds_every_label_once(split_and_vectorizer):
    split, vectorizer = split_and_vectorizer
    pipeline = data.make_pipeline(split, vectorizer, 32, 64)
    labels = [label for _, batch in pipeline.as_numpy_iterator() for label in batch]
    assert sorted(labels) == sorted(split.labels.tolist())


def epoch_contents(dataset):
    return [
        (tuple(row[row != 0]), int(label))
        for ids, labels in dataset.as_numpy_iterator()
        for row, label in zip(ids, labels)
    ]


def test_training_batches_cover_each_example_once_per_epoch(split_and_vectorizer):
    split, vectorizer = split_and_vectorizer
    batches = data.TrainingBatches(split, vectorizer, max_length=32, batch_size=4, seed=7)
    epochs = [epoch_contents(batches.epochs(e, e + 1)) for e in range(3)]
    assert sum(1 for _ in batches.epochs(0, 1)) == batches.steps_per_epoch
    ids = data.token_ids(TEXTS, vectorizer, 32)
    every = sorted((tuple(row), int(label)) for row, label in zip(ids, split.labels))
    for contents in epochs:
        assert sorted(contents) == every
    assert epochs[0] != epochs[1] != epochs[2]  # Reshuffled each epoch.


def test_a_resumed_stream_sees_what_an_uninterrupted_one_saw(split_and_vectorizer):
    split, vectorizer = split_and_vectorizer
    whole = epoch_contents(data.TrainingBatches(split, vectorizer, 32, 4, seed=3).epochs(0, 3))
    later = epoch_contents(data.TrainingBatches(split, vectorizer, 32, 4, seed=3).epochs(2, 3))
    assert whole[-len(later) :] == later
    other_seed = epoch_contents(data.TrainingBatches(split, vectorizer, 32, 4, seed=4).epochs(2, 3))
    assert other_seed != later


def test_vectorizer_round_trips_through_its_vocabulary(split_and_vectorizer):
    _, vectorizer = split_and_vectorizer
    rebuilt = data.vectorizer_from_vocabulary(vectorizer.get_vocabulary())
    texts = ["w1 w2 unknown w40", "w0"]
    np.testing.assert_array_equal(rebuilt(texts), vectorizer(texts))
    with pytest.raises(ValueError, match="starts with"):
        data.vectorizer_from_vocabulary(["w1", "w2"])
