"""The built-in `order` data set: word order alone decides the label."""

from __future__ import annotations

import numpy as np

from keras_posemb._args import check_even, check_int, check_number
from keras_posemb.data.text_data import Split, TextData
from keras_posemb.errors import DataError

# Ordered by size: the label says whether the actor is the larger animal.
ANIMALS = [
    "ant", "bee", "mouse", "frog", "rabbit", "cat", "fox", "dog", "wolf", "horse", "bear", "elephant",
]  # fmt: skip
VERBS = ["chased", "scared", "followed", "bit", "watched", "pushed", "found", "ignored"]
ADJECTIVES = ["big", "small", "old", "young", "brown", "grey", "quick", "lazy", "happy", "angry"]
FILLERS = [
    "yesterday", "today", "again", "then", "suddenly", "quietly", "once", "later",
    "in the garden", "near the river", "after lunch", "as usual", "for a while",
    "without a sound", "on a sunny morning", "to everyone 's surprise",
]  # fmt: skip
CLASS_NAMES = ["smaller actor", "larger actor"]
# The shortest sentence: "the dog chased the cat".
MIN_WORDS = 5


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


def check_split_size(name: str, size: int, minimum: int = 0) -> int:
    return check_even(name, size, minimum, " (sentences come in noun-swapped pairs)")


def order_dataset(
    train_size: int = 16000,
    validation_size: int = 2000,
    test_size: int = 2000,
    min_words: int = MIN_WORDS,
    max_words: int = 24,
    passive_fraction: float = 0.5,
    seed: int = 0,
) -> TextData:
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
    for name, size in [
        ("train_size", train_size),
        ("validation_size", validation_size),
        ("test_size", test_size),
    ]:
        check_split_size(name, size)
    check_int("min_words", min_words, minimum=MIN_WORDS)
    check_int("max_words", max_words, minimum=min_words)
    check_number("passive_fraction", passive_fraction, 0, 1)
    sizes = [train_size, validation_size, test_size]
    rng = np.random.default_rng(seed)
    seen, pairs = set(), []
    misses = 0  # Draws in a row that gave nothing new.
    while len(pairs) < sum(sizes) // 2:
        if misses > 5000:
            raise DataError(
                f"Could not draw {sum(sizes)} distinct sentences of {min_words}-{max_words} "
                "words; ask for fewer sentences or allow longer ones."
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
        texts = [chosen[i][0] for i in order]
        splits.append(Split(texts, np.array([chosen[i][1] for i in order], "int64")))
        start += size // 2
    return TextData("order", *splits, list(CLASS_NAMES))
