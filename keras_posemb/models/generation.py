"""Text generation with a `CausalLM`: a compiled cached step, sampled in NumPy.

The prompt goes through the model once (the prefill), filling a key/value
cache of fixed size `prompt + max_new_tokens`; then each new token costs one
step over one token against the cache, instead of a pass over the whole
prefix. A rolling cache (`cache="window"` or `"sinks"`) holds at most
`sinks + window` tokens: the prompt's first tokens fill it, and the rest of
the prompt goes through one token at a time, as the new tokens do. Greedy
decoding runs the prefill and every step in one compiled call (a
`keras.ops.fori_loop`), so the host is not visited between tokens.
Sampling draws each token on the host in float64 NumPy from a seeded
generator, so the same logits give the same tokens on every backend; its
step is compiled once and takes the position as a tensor, so it is not
traced again per token. Compiled means `jax.jit`, or `tf.function` with XLA;
PyTorch runs eagerly, without gradient tracking.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_posemb import families
from keras_posemb._args import check_int
from keras_posemb._memory import check_fits
from keras_posemb.errors import PositionRangeError, argument_error
from keras_posemb.modeling import check_token_ids
from keras_posemb.numerics.sampling import check_cache, check_sampling, sample_next


def compile_function(function, model):
    """`function(token_ids, cache, index)` of `model`, compiled the way the
    backend compiles: traced once per input shape and dtype."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        # Weights are arguments, not constants baked into the trace.
        def stateless(state, *args):
            with keras.StatelessScope(state_mapping=list(zip(model.variables, state))):
                return function(*args)

        jitted = jax.jit(stateless)
        return lambda *args: jitted([v.value for v in model.variables], *args)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    import torch

    # Eager, without recording operations for gradients that never come.
    return torch.no_grad()(function)


class Generator:
    """The compiled prefill and step of one `CausalLM`."""

    def __init__(self, model):
        self.model = model
        self.traces = 0  # Python runs of the step and prefill: traces when compiled.
        self.greedy_traces = 0
        self._steps = {}  # {sinks of a rolling cache, or None: compiled step}
        self._greedy = {}  # {(new tokens, sinks): compiled greedy decoding}

    def step(self, sinks: int | None = None):
        """Compiled `(token_ids, cache, index) -> (last logits, cache)`, with
        a rolling cache of `sinks` sinks (`CausalLM.call_with_cache`)."""
        if sinks not in self._steps:

            def last_logits(token_ids, cache, index):
                self.traces += 1
                logits, cache = self.model.call_with_cache(token_ids, cache, index, sinks)
                return logits[:, -1], cache

            self._steps[sinks] = compile_function(last_logits, self.model)
        return self._steps[sinks]

    def _greedy_function(self, new_tokens, sinks):
        """Compiled `(prompt, cache) -> new token ids (batch, new_tokens)`."""
        if (new_tokens, sinks) not in self._greedy:
            model, ops = self.model, keras.ops

            def next_token(token_ids, cache, index):
                logits, cache = model.call_with_cache(token_ids, cache, index, sinks)
                return ops.cast(ops.argmax(logits[:, -1], axis=-1), "int32")[:, None], cache

            def decode(prompt, cache):
                self.greedy_traces += 1
                (batch, length), cache_length = prompt.shape, cache.shape[3]
                first = min(length, cache_length)  # Prefilled; the rest of the prompt steps.
                token, cache = next_token(prompt[:, :first], cache, 0)
                tokens = ops.concatenate([prompt, ops.zeros((batch, new_tokens), "int32")], 1)

                def body(position, state):
                    token, cache, tokens = state
                    given = ops.slice(tokens, (0, position), (batch, 1))
                    token = ops.where(position < length, given, token)
                    tokens = ops.slice_update(tokens, (0, position), token)
                    token, cache = next_token(token, cache, position)
                    return token, cache, tokens

                last = length + new_tokens - 1
                token, _, tokens = ops.fori_loop(first, last, body, (token, cache, tokens))
                return ops.slice_update(tokens, (0, last), token)[:, length:]

            self._greedy[new_tokens, sinks] = compile_function(decode, model)
        return self._greedy[new_tokens, sinks]

    def generate(self, prompt_ids, max_new_tokens, sampling, seed, cache, window, sinks):
        prompt = _check_prompt(prompt_ids, self.model)
        check_int("max_new_tokens", max_new_tokens, minimum=0)
        temperature, top_k, top_p = sampling
        check_sampling(temperature, top_k, top_p)
        sinks = check_cache(cache, window, sinks)
        if seed is not None:
            check_int("seed", seed, minimum=0)
        batch, length = prompt.shape
        total = length + max_new_tokens
        cache_length = cache_size(total, window, sinks)
        if cache_length == total:
            sinks = None  # Nothing rolls: the full cache gives the same tokens.
        check_generation_fits(self.model, batch, length, max_new_tokens, cache_length=cache_length)
        _check_length(self.model, total, cache_length)
        if max_new_tokens == 0:
            return prompt
        as_index = keras.ops.convert_to_tensor
        kv_cache = self.model.empty_cache(batch, cache_length)
        if temperature == 0:
            decode = self._greedy_function(max_new_tokens, sinks)
            new = keras.ops.convert_to_numpy(decode(as_index(prompt), kv_cache))
            return np.concatenate([prompt, new.astype(np.int32)], axis=1)
        step, rng = self.step(sinks), np.random.default_rng(seed)
        first = min(length, cache_length)  # Prefilled; the rest of the prompt steps.
        logits, kv_cache = step(as_index(prompt[:, :first]), kv_cache, as_index(np.int32(0)))
        tokens = [prompt]
        for position in range(first, total):
            if position < length:
                token = prompt[:, position : position + 1]
            else:
                token = sample_next(keras.ops.convert_to_numpy(logits), rng, *sampling)
                token = token[:, None].astype(np.int32)
                tokens.append(token)
            if position + 1 < total:
                logits, kv_cache = step(as_index(token), kv_cache, as_index(np.int32(position)))
        return np.concatenate(tokens, axis=1)


def cache_size(total: int, window: int | None, sinks: int | None) -> int:
    """Tokens a generation of `total` tokens caches: all of them, or at
    most `sinks + window` with a rolling cache."""
    return total if sinks is None else min(total, sinks + window)


def _check_prompt(prompt_ids, model):
    prompt = np.asarray(prompt_ids)
    if prompt.ndim == 1:
        prompt = prompt[None]
    if prompt.ndim != 2 or prompt.shape[1] == 0 or prompt.dtype.kind not in "iu":
        raise argument_error(
            "prompt_ids",
            f"an array of dtype {prompt.dtype} and shape {np.asarray(prompt_ids).shape}",
            "integer token ids of shape (sequence,) or (batch, sequence) with at least one token",
        )

    check_token_ids(prompt, model.vocab_size, f"Model {model.name!r}")
    return prompt.astype(np.int32)


def check_generation_fits(
    model,
    batch: int,
    length: int,
    max_new_tokens: int,
    argument: str = "max_new_tokens",
    cache_length: int | None = None,
) -> None:
    """Refuses, before anything is allocated, a generation of `batch` texts
    whose cache (two copies in a step; `cache_length` tokens, else all) and
    prefill (logits over the prompt of `length` tokens, or the cache's
    worth, against the cache) cannot fit in memory; the error names
    `argument` (`max_new_tokens`, or the batch's own setting)."""
    attention = model.blocks[0].attention
    itemsize = 2 if "16" in attention.compute_dtype else 4
    cached = length + max_new_tokens if cache_length is None else cache_length
    cache = batch * len(model.blocks) * 2 * cached * attention.num_heads * attention.key_dim
    prefill = batch * min(length, cached) * (attention.num_heads * cached + model.vocab_size)
    value = max_new_tokens if argument == "max_new_tokens" else batch
    check_fits(
        argument, value, 2 * itemsize * float(cache) + 4 * float(prefill),
        f"a key/value cache of {cached:,} tokens for {batch:,} text(s)",
    )  # fmt: skip


def _check_length(model, total, cache_length):
    """Refuses a prompt plus new tokens longer than the positions cover,
    before anything runs (inside a compiled step it would be NaN): every
    token's position where positions are added to the embeddings, the
    positions inside the cache where they are inside attention."""
    limit = families.covered_positions(model)
    family, _ = families.find_position(model)
    needed = total if family.where == "embeddings" else cache_length
    if needed > limit:
        what = "the prompt and the new tokens" if needed == total else "the cache"
        raise PositionRangeError(
            f"Model {model.name!r}: {what} need {needed} positions, but its "
            f"{family.name!r} positions cover {limit}. Shorten the prompt or max_new_tokens."
        )


def generator_of(model) -> Generator:
    """The `Generator` kept on `model`: its compiled functions are reused."""
    generator = getattr(model, "_keras_posemb_generator", None)
    if generator is None:
        generator = Generator(model)
        model._keras_posemb_generator = generator
    return generator


def generate(
    model: Any,
    prompt_ids: Any,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    cache: str = "full",
    window: int | None = None,
    sinks: int | None = None,
) -> np.ndarray:
    """`prompt_ids` followed by `max_new_tokens` tokens sampled from `model`.

    Args:
        model: a `CausalLM` (from `build_causal_lm`).
        prompt_ids: integer ids `(sequence,)` or `(batch, sequence)`; every
            prompt of a batch has the same length.
        max_new_tokens: non-negative int.
        temperature: `0` for greedy decoding, else the divisor of the logits.
        top_k: keep only the `top_k` most likely tokens (`None`: all).
        top_p: keep only the most likely tokens whose probabilities add up
            to `top_p` (`None`: all).
        seed: seed of NumPy's generator (an int >= 0, or `None`); the same
            seed and model give the same text.
        cache: `"full"` keeps the keys and values of every token (memory
            grows with the text); `"window"` only the last `window` tokens'
            (each token sees those alone, Mistral's sliding window);
            `"sinks"` the first `sinks` tokens' too (StreamingLLM's
            attention sinks). With a rolling cache the text may be any
            number of tokens long at constant memory (positions added to the
            embeddings, such as a learned table, still limit it); positions
            inside attention are those inside the cache (`PositionalAttention`,
            `cache_sinks`). Defaults to `"full"`.
        window: with `cache="window"` or `"sinks"`, a positive int.
        sinks: with `cache="sinks"`, a positive int. Defaults to 4
            (StreamingLLM's).

    Returns:
        int32 NumPy array `(batch, sequence + max_new_tokens)`.

    Raises:
        PositionRangeError: if the positions of the model (a learned table)
            do not cover `sequence + max_new_tokens`.
        ArgumentError: for a bad argument, `top_k` or `top_p` with
            `temperature=0`, `window` or `sinks` with a cache that takes
            none, or a cache that cannot fit in memory.
    """
    if not callable(getattr(model, "call_with_cache", None)):
        raise argument_error(
            "model", getattr(model, "name", model), "a language model from build_causal_lm "
            "(a CausalLM, which decodes with a key/value cache)",
        )  # fmt: skip
    return generator_of(model).generate(
        prompt_ids, max_new_tokens, (temperature, top_k, top_p), seed, cache, window, sinks
    )
