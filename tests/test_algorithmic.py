"""The algorithmic tasks of the length-generalization study, and exact match."""

import numpy as np
import pytest

from keras_posemb.analysis.extrapolation import exact_match
from keras_posemb.data import algorithmic
from keras_posemb.data.algorithmic import END, FIRST_SYMBOL, PAD, SEPARATOR


def symbols(tokens):
    return [t - FIRST_SYMBOL for t in tokens]


def example(task, n, seed=0):
    """`(prompt, answer)` symbols of one encoded example, read back from the layout."""
    inputs, targets, weights = algorithmic.encode(task, [n], np.random.default_rng(seed))
    tokens = list(inputs[0]) + [targets[0][-1]]
    separator = tokens.index(SEPARATOR)
    assert tokens[-1] == END and PAD not in tokens
    return symbols(tokens[:separator]), symbols(tokens[separator + 1 : -1])


@pytest.mark.parametrize(
    "task, rule",
    [
        ("copy", lambda x: x),
        ("reverse", lambda x: x[::-1]),
        ("duplicate", lambda x: x + x),
        ("sort", sorted),
        ("parity", lambda x: [x.count(1) % 2]),
        ("odds_first", lambda x: [x[i] for i in range(0, len(x), 2)] + [x[i] for i in range(1, len(x), 2)]),
    ],
)  # fmt: skip
def test_each_answer_follows_the_tasks_rule(task, rule):
    for n in (1, 2, 7):
        prompt, answer = example(task, n, seed=n)
        assert len(prompt) == n and answer == list(rule(prompt))


def test_binary_addition_with_the_least_significant_bit_first():
    for n in (1, 5, 12):
        prompt, answer = example("addition", n, seed=n)
        plus = prompt.index(algorithmic.PLUS - FIRST_SYMBOL)
        a, b = prompt[:plus], prompt[plus + 1 :]

        def value(bits):
            return int("".join(map(str, bits[::-1])), 2)

        assert len(a) == len(b) == n and len(answer) == n + 1
        assert value(answer) == value(a) + value(b)


def test_the_loss_weights_cover_the_answer_and_the_end_only():
    # reverse of 3 symbols: x1 x2 x3 = y1 y2 y3 END; the targets after "=" are weighted.
    inputs, targets, weights = algorithmic.encode("reverse", [3, 1], np.random.default_rng(0), 9)
    np.testing.assert_array_equal(weights[0], [0, 0, 0, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(weights[1], [0, 1, 1, 0, 0, 0, 0, 0, 0])
    assert inputs[0][3] == SEPARATOR and targets[0][6] == END and inputs[0][7] == PAD
    np.testing.assert_array_equal(inputs[0, 1:7], targets[0, :6])  # The next token.
    assert algorithmic.sequence_length(algorithmic.get("reverse"), 3) == 7
    assert algorithmic.sequence_length(algorithmic.get("addition"), 3) == 12


def test_unknown_tasks_and_short_widths_are_refused():
    with pytest.raises(ValueError, match=r"`task` must be one of copy, .*; received task='add'"):
        algorithmic.get("add")
    with pytest.raises(ValueError, match=r"`width` must be >= 7, .*; received width=5"):
        algorithmic.encode("copy", [3], np.random.default_rng(0), width=5)


class Oracle:
    """A stand-in model: the given next-token logits of each input row."""

    def __init__(self, inputs, logits):
        self.logits = {row.tobytes(): row_logits for row, row_logits in zip(inputs, logits)}

    def predict_on_batch(self, inputs):
        return np.stack([self.logits[row.tobytes()] for row in inputs])


def test_exact_match_asks_every_answer_token_and_nothing_else():
    inputs, targets, weights = algorithmic.encode("copy", [2, 2, 2], np.random.default_rng(0))
    logits = np.eye(algorithmic.VOCAB_SIZE)[targets]
    logits[1, 3] = np.roll(logits[1, 3], 1)  # An answer token wrong.
    logits[2, 0] = np.roll(logits[2, 0], 1)  # A prompt token wrong: not asked.
    got = exact_match(Oracle(inputs, logits), inputs, targets, weights, batch_size=2)
    np.testing.assert_array_equal(got, [True, False, True])
