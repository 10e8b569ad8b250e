import collections

import numpy as np
import pytest

from keras_posemb import data
from keras_posemb.data import order

SIZES = 2000, 400, 400


@pytest.fixture(scope="module")
def order_data():
    return data.order_dataset(*SIZES, seed=3)


def expected_label(sentence):
    """The label re-derived from the words: is the actor the larger animal?"""
    words = sentence.split()
    animals = [w for w in words if w in order.ANIMALS]
    assert len(animals) == 2, sentence
    first, second = (order.ANIMALS.index(a) for a in animals)
    passive = "was" in words and "by" in words
    actor, acted_on = (second, first) if passive else (first, second)
    return int(actor > acted_on)


def test_labels_follow_from_word_order(order_data):
    for split in (order_data.train, order_data.validation, order_data.test):
        assert [expected_label(t) for t in split.texts] == split.labels.tolist()


def test_every_word_multiset_has_both_labels_equally(order_data):
    for split in (order_data.train, order_data.validation, order_data.test):
        by_words = collections.defaultdict(list)
        for text, label in zip(split.texts, split.labels):
            by_words[tuple(sorted(text.split()))].append(int(label))
        for labels in by_words.values():
            assert labels.count(0) == labels.count(1), labels
        # So any classifier of the word multiset scores exactly 50%.
        assert split.labels.mean() == 0.5


def test_splits_share_no_sentence_and_have_the_asked_sizes(order_data):
    sets = [set(s.texts) for s in (order_data.train, order_data.validation, order_data.test)]
    assert [len(s) for s in sets] == list(SIZES)
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_grammar_and_lengths(order_data):
    lengths = [len(t.split()) for t in order_data.train.texts]
    assert min(lengths) >= 5 and max(lengths) <= 24 and len(set(lengths)) > 10
    words = set(" ".join(order_data.train.texts).split())
    assert set(order.ANIMALS) <= words and set(order.VERBS) <= words
    assert set(order.ADJECTIVES) <= words
    passive = np.mean(["was" in t.split() for t in order_data.train.texts])
    assert passive == pytest.approx(0.5, abs=0.05)
    long = data.order_dataset(100, 0, 0, min_words=30, max_words=40, seed=1)
    assert all(30 <= len(t.split()) <= 40 for t in long.train.texts)


def test_deterministic_given_the_seed():
    a, b, c = (data.order_dataset(200, 20, 20, seed=s) for s in (5, 5, 6))
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    assert a.train.texts != c.train.texts


def test_load_dataset_knows_the_built_in_name():
    loaded = data.load_dataset("order", order_train_size=320, max_words=10, seed=2)
    assert loaded.name == "order" and loaded.class_names == order.CLASS_NAMES
    assert (len(loaded.train), len(loaded.validation), len(loaded.test)) == (320, 40, 40)
    assert max(len(t.split()) for t in loaded.train.texts) <= 10
    direct = data.order_dataset(320, 40, 40, max_words=10, seed=2)
    assert loaded.train.texts == direct.train.texts


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_words": 4}, r"Argument `min_words` must be an int >= 5; received min_words=4\."),
        ({"train_size": 3}, r"train_size=3"),
        ({"test_size": -2}, r"test_size=-2"),
        ({"passive_fraction": 1.5}, r"passive_fraction=1.5"),
        ({"max_words": 5, "train_size": 100000}, "distinct"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.order_dataset(**{"validation_size": 0, "test_size": 0, **kwargs})
