"""Algorithmic tasks for length generalization, generated offline (NumPy only).

Each task turns an input length `n` and a random generator into a prompt
and its answer, both lists of symbols; `encode` lays a batch out for a
decoder-only model: `prompt, SEPARATOR, answer, END`, padded with `PAD`,
with a loss weight of 1 on the answer and the end token only (the model is
asked the answer, never the prompt). The tasks are those the
length-generalization papers use (Ruoss et al. 2023, Kazemnejad et al.
2023, Zhou et al. 2024): a model trained on short inputs is scored by exact
match on longer ones.

    rng = np.random.default_rng(0)
    batch = encode("reverse", [3, 5], rng)  # inputs, targets, weights
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from keras_posemb.errors import argument_error

PAD, SEPARATOR, END = 0, 1, 2
# Symbols 3 .. 3 + ALPHABET - 1; binary tasks use the first two ("0", "1").
FIRST_SYMBOL = 3
ALPHABET = 8
VOCAB_SIZE = FIRST_SYMBOL + ALPHABET
PLUS = FIRST_SYMBOL + ALPHABET - 1  # Addition's "+", never a digit.


@dataclasses.dataclass(frozen=True)
class Task:
    """One task: `make(rng, n)` -> `(prompt, answer)` symbol lists (0-based
    symbols, shifted to token ids by `encode`), and the answer's length for
    an input of length `n` (for sizing a batch)."""

    name: str
    description: str
    make: Callable[[np.random.Generator, int], tuple[list[int], list[int]]]
    answer_length: Callable[[int], int]


def _symbols(rng, n):
    return rng.integers(0, ALPHABET - 1, size=n).tolist()  # PLUS is kept out of inputs.


def _bits(rng, n):
    return rng.integers(0, 2, size=n).tolist()


def _addition(rng, n):
    """Two n-bit numbers, least significant bit first; their (n + 1)-bit sum."""
    a, b = _bits(rng, n), _bits(rng, n)
    value = sum((x + y) << i for i, (x, y) in enumerate(zip(a, b)))
    total = [(value >> i) & 1 for i in range(n + 1)]
    return a + [PLUS - FIRST_SYMBOL] + b, total


def _transform(source, function):
    """A task whose answer is `function(input)` of an input drawn by `source`."""

    def make(rng, n):
        x = source(rng, n)
        return x, list(function(x))

    return make


TASKS = {
    task.name: task
    for task in (
        Task("copy", "the input again", _transform(_symbols, list), lambda n: n),
        Task("reverse", "the input backwards", _transform(_symbols, reversed), lambda n: n),
        Task("duplicate", "the input twice", _transform(_symbols, lambda x: x + x), lambda n: 2 * n),
        Task("sort", "the input sorted", _transform(_symbols, sorted), lambda n: n),
        Task("addition", "binary addition, bits reversed", _addition, lambda n: n + 1),
        Task("parity", "whether the input has an odd number of ones", _transform(_bits, lambda x: [sum(x) % 2]), lambda n: 1),
        Task("odds_first", "the odd places, then the even ones", _transform(_symbols, lambda x: x[0::2] + x[1::2]), lambda n: n),
    )
}  # fmt: skip


def get(name: str) -> Task:
    if name not in TASKS:
        raise argument_error("task", name, f"one of {', '.join(TASKS)}")
    return TASKS[name]


def sequence_length(task: Task, n: int) -> int:
    """Tokens of one example of input length `n`, without the last target."""
    prompt = 2 * n + 1 if task.name == "addition" else n
    return prompt + 1 + task.answer_length(n)


def encode(
    task: str | Task, lengths: Sequence[int], rng: np.random.Generator, width: int | None = None
):
    """One example per input length in `lengths`, laid out for a causal model.

    Returns:
        `(inputs, targets, weights)`, each `(len(lengths), width)`: token
        ids, the next token at each place, and 1.0 where that next token is
        part of the answer (or the end token), 0.0 elsewhere. `width`
        defaults to the longest example's length.
    """
    task = get(task) if isinstance(task, str) else task
    rows = []
    for n in lengths:
        prompt, answer = task.make(rng, int(n))
        tokens = [s + FIRST_SYMBOL for s in prompt] + [SEPARATOR]
        rows.append((tokens + [s + FIRST_SYMBOL for s in answer] + [END], len(tokens)))
    width = width or max(len(tokens) - 1 for tokens, _ in rows)
    inputs = np.full((len(rows), width), PAD, np.int32)
    targets = np.full((len(rows), width), PAD, np.int32)
    weights = np.zeros((len(rows), width), np.float32)
    for row, (tokens, answer_start) in enumerate(rows):
        if len(tokens) - 1 > width:
            raise argument_error("width", width, f">= {len(tokens) - 1}, this example's length")
        inputs[row, : len(tokens) - 1] = tokens[:-1]
        targets[row, : len(tokens) - 1] = tokens[1:]
        weights[row, answer_start - 1 : len(tokens) - 1] = 1.0
    return inputs, targets, weights
