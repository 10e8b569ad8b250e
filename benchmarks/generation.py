"""Generation speed: the key/value cache against recomputing the whole prefix.

Both decode greedily from the same model (`build_causal_lm`, untrained: speed
does not depend on the weights) under the active Keras backend:

- cached: `CausalLM.generate`, one compiled step over one token per new token;
- recomputed: per new token, one compiled full forward pass over a buffer of
  fixed length `prompt + new tokens` (causal, so the unfilled end changes
  nothing), reading the logits at the current position. A fixed buffer is
  the fastest recomputation without re-tracing per length.

Compilation is done in a warm-up run and not timed. Both produce the same
tokens (checked). Prints a markdown table of tokens per second.

    KERAS_BACKEND=jax python benchmarks/generation.py [--new-tokens 256 --positions rotary,alibi]
"""

from __future__ import annotations

import argparse
import platform
import time

import keras
import numpy as np

from keras_posemb.generation import compile_function
from keras_posemb.models import build_causal_lm


def recompute_greedy(forward, prompt, new_tokens):
    """Greedy decoding by a full pass over the whole buffer per token."""
    batch, length = prompt.shape
    buffer = np.zeros((batch, length + new_tokens), np.int32)
    buffer[:, :length] = prompt
    for position in range(length, length + new_tokens):
        logits = keras.ops.convert_to_numpy(forward(keras.ops.convert_to_tensor(buffer)))
        buffer[:, position] = logits[:, position - 1].argmax(-1)
    return buffer


def seconds(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(position, args):
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
    results = {}
    for _ in range(2):  # The first round compiles; the second is timed.
        cached_s, cached = seconds(lambda: model.generate(prompt, args.new_tokens))
        recomputed_s, recomputed = seconds(lambda: recompute_greedy(forward, prompt, args.new_tokens))  # fmt: skip
        results = {"cached": cached_s, "recomputed": recomputed_s}
    if not np.array_equal(cached, recomputed):
        raise AssertionError(f"{position}: cached and recomputed greedy decoding differ")
    return results


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
    print("| position | cached tokens/s | recomputed tokens/s | speed-up |")
    print("|---|---|---|---|")
    for position in args.positions.split(","):
        times = measure(position, args)
        rate = {name: args.batch * args.new_tokens / s for name, s in times.items()}
        print(
            f"| {position} | {rate['cached']:.0f} | {rate['recomputed']:.0f} | "
            f"{times['recomputed'] / times['cached']:.1f}x |"
        )


if __name__ == "__main__":
    main()
