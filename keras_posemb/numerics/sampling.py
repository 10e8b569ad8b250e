"""Choosing the next token from a language model's logits, in float64
NumPy from a seeded generator: the same logits give the same tokens on
every backend (`keras_posemb.models.generation` runs the model); and the
checks of generation's settings, which the command line runs before Keras
loads."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_posemb._args import check_int, check_number
from keras_posemb.errors import Setting, argument_error


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    check_number("temperature", temperature, low=0)
    if top_k is not None:
        check_int("top_k", top_k)
    if top_p is not None:
        check_number("top_p", top_p, 0, 1, low_open=True)
    for name, value in (("top_k", top_k), ("top_p", top_p)):
        if temperature == 0 and value is not None:
            raise argument_error(
                name, value, "left out with ", Setting("temperature", 0), ": greedy decoding "
                "takes the most likely token (give a temperature to sample)",
            )  # fmt: skip


CACHES = ("full", "window", "sinks")
# StreamingLLM keeps four initial tokens (Xiao et al. 2023, section 3.2).
DEFAULT_SINKS = 4


def check_cache(cache: str, window: int | None, sinks: int | None) -> int | None:
    """Checks a generation's cache settings; returns the number of sinks of
    a rolling cache (`0` for "window"), or `None` for the full cache."""
    if cache not in CACHES:
        raise argument_error("cache", cache, "one of " + ", ".join(map(repr, CACHES)))
    if cache == "full":
        for name, value in (("window", window), ("sinks", sinks)):
            if value is not None:
                raise argument_error(
                    name, value, "left out with ", Setting("cache", "full"),
                    " (a full cache keeps every token; give cache='window' or 'sinks')",
                )  # fmt: skip
        return None
    if window is None:
        raise argument_error(
            "window", window, "a positive int with ", Setting("cache", cache),
            ": how many recent tokens the cache keeps",
        )  # fmt: skip
    check_int("window", window)
    if cache == "window":
        if sinks is not None:
            raise argument_error(
                "sinks", sinks, "left out with ", Setting("cache", "window"),
                " (give cache='sinks' to keep the first tokens too)",
            )  # fmt: skip
        return 0
    return check_int("sinks", DEFAULT_SINKS if sinks is None else sinks)


def sample_next(
    logits: Any,
    rng: np.random.Generator,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """One token id per row of `logits` `(batch, vocab)`.

    `temperature=0` is greedy (the first of equal largest logits). Otherwise
    the logits are divided by `temperature`, then only the `top_k` most
    likely tokens are kept, then only the smallest set of the most likely
    ones whose probabilities add up to at least `top_p` (nucleus sampling,
    Holtzman et al. 2020), and one token is drawn from what is left,
    renormalized.
    """
    check_sampling(temperature, top_k, top_p)
    logits = np.asarray(logits, np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    logits = logits / temperature
    # Most likely first; a stable sort keeps the lower id first among equals.
    order = np.argsort(-logits, axis=-1, kind="stable")
    ranked = np.take_along_axis(logits, order, axis=-1)
    keep = np.ones_like(ranked, dtype=bool)
    if top_k is not None:
        keep[:, top_k:] = False
    probabilities = _softmax(np.where(keep, ranked, -np.inf))
    if top_p is not None:
        before = np.cumsum(probabilities, axis=-1) - probabilities
        keep &= before < top_p  # The first token always stays.
        probabilities = _softmax(np.where(keep, ranked, -np.inf))
    draws = rng.random((len(logits), 1))
    rank = (np.cumsum(probabilities, axis=-1) <= draws).sum(axis=-1)
    # Rounding can leave the cumulative sum just below the draw near 1.
    rank = np.minimum(rank, keep.sum(axis=-1) - 1)
    return np.take_along_axis(order, rank[:, None], axis=-1)[:, 0]


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
