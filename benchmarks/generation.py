"""Generation speed: the key/value cache against recomputing the whole prefix.

Both decode greedily from the same model (`build_causal_lm`, untrained: speed
does not depend on the weights) under the active Keras backend:

- cached: `CausalLM.generate`, greedy: the prefill and one step over one
  token per new token, all in one compiled call (`keras.ops.fori_loop`);
- recomputed: per new token, one full forward pass over a buffer of fixed
  length `prompt + new tokens` (causal, so the unfilled end changes
  nothing), reading the logits at the current position (a fixed buffer is
  the fastest recomputation without re-tracing per length), two ways: a
  host loop over a compiled pass, and the whole loop in one compiled call
  like the cached decoding. The speed-up is against the faster of the two.

Compilation is done in a warm-up run and not timed. All produce the same
tokens (checked). Prints a markdown table of tokens per second.

    KERAS_BACKEND=jax python benchmarks/generation.py [--new-tokens 256 --positions rotary,alibi]
"""

from __future__ import annotations

import argparse
import platform
import time

import keras
import numpy as np

from keras_posemb.models import build_causal_lm
from keras_posemb.models.generation import compile_function


def recompute_greedy(forward, prompt, new_tokens):
    """Greedy decoding by a full pass over the whole buffer per token."""
    batch, length = prompt.shape
    buffer = np.zeros((batch, length + new_tokens), np.int32)
    buffer[:, :length] = prompt
    for position in range(length, length + new_tokens):
        logits = keras.ops.convert_to_numpy(forward(keras.ops.convert_to_tensor(buffer)))
        buffer[:, position] = logits[:, position - 1].argmax(-1)
    return buffer


def recompute_in_one_call(model, length, new_tokens):
    """`buffer -> buffer` greedy decoding by full passes, one compiled call."""
    ops = keras.ops

    def decode(buffer):
        def body(position, buffer):
            logits = model(buffer, training=False)
            last = ops.slice(logits, (0, position - 1, 0), (ops.shape(logits)[0], 1, logits.shape[-1]))  # fmt: skip
            token = ops.cast(ops.argmax(last[:, 0], axis=-1), "int32")[:, None]
            return ops.slice_update(buffer, (0, position), token)

        return ops.fori_loop(length, length + new_tokens, body, buffer)

    return compile_function(decode, model)


def seconds(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(position, args):
    keras.utils.set_random_seed(0)
    model = build_causal_lm(
        args.vocab_size,
        args.prompt + args.new_tokens,
        position,
        embed_dim=args.width,
        num_heads=args.heads,
        num_layers=args.layers,
    )
    prompt = np.random.default_rng(0).integers(0, args.vocab_size, (args.batch, args.prompt))
    prompt = prompt.astype(np.int32)
    forward = compile_function(lambda ids: model(ids, training=False), model)
    in_one_call = recompute_in_one_call(model, args.prompt, args.new_tokens)
    buffer = np.zeros((args.batch, args.prompt + args.new_tokens), np.int32)
    buffer[:, : args.prompt] = prompt
    ways = {
        "cached": lambda: model.generate(prompt, args.new_tokens),
        "recomputed": lambda: recompute_greedy(forward, prompt, args.new_tokens),
        "recomputed in one call": lambda: keras.ops.convert_to_numpy(
            in_one_call(keras.ops.convert_to_tensor(buffer))
        ),
    }
    results, tokens = {}, {}
    for _ in range(2):  # The first round compiles; the second is timed.
        for name, way in ways.items():
            results[name], tokens[name] = seconds(way)
    for name, ids in tokens.items():
        check_same_tokens(forward, tokens["cached"], ids, f"{position}: cached and {name}")
    return results


def check_same_tokens(forward, cached, other, what, tie=1e-5):
    """Raises unless `other` is `cached`, or first departs from it where the
    full pass finds the two tokens' logits equal to float32 precision (an
    untrained model's logits lie close together; the paths round apart)."""
    differ = np.nonzero((cached != other).any(axis=0))[0]
    if not len(differ):
        return
    position = int(differ[0])
    logits = keras.ops.convert_to_numpy(forward(keras.ops.convert_to_tensor(cached)))
    row, *_ = np.nonzero(cached[:, position] != other[:, position])[0]
    chosen = logits[row, position - 1, [cached[row, position], other[row, position]]]
    if abs(chosen[0] - chosen[1]) > tie:
        raise AssertionError(f"{what} greedy decoding differ at token {position}: logits {chosen}")
    print(f"({what}: a tie at token {position}, logits {chosen[0]:.7f} and {chosen[1]:.7f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", default="rotary,alibi,t5,learned")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args(argv)
    print(
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, {platform.machine()}; "
        f"{args.layers} layers x width {args.width}, batch {args.batch}, prompt {args.prompt}, "
        f"{args.new_tokens} new tokens, greedy\n"
    )
    print("| position | cached tokens/s | recomputed: host loop, one call | speed-up |")
    print("|---|---|---|---|")
    for position in args.positions.split(","):
        times = measure(position, args)
        rate = {name: args.batch * args.new_tokens / s for name, s in times.items()}
        fastest = min(times["recomputed"], times["recomputed in one call"])
        print(
            f"| {position} | {rate['cached']:.0f} | {rate['recomputed']:.0f}, "
            f"{rate['recomputed in one call']:.0f} | {fastest / times['cached']:.1f}x |"
        )


if __name__ == "__main__":
    main()
