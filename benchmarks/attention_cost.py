"""Train-step time and peak memory of attention at long sequences.

`PositionalAttention` on its fused path (`keras.ops.dot_product_attention`)
and on its explicit path (`fused=False`), against
`keras.layers.MultiHeadAttention`, all causal, one self-attention layer of
`heads x key_dim` on `(batch, length, heads * key_dim)` inputs with an MSE
loss, under the active Keras backend. Each (layer, length) runs in a fresh
process, so its peak resident memory (`ru_maxrss`) is its own; time is the
median of the timed steps after a compiled warm-up step.

    KERAS_BACKEND=jax python benchmarks/attention_cost.py [--lengths 512,1024,2048,4096]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LAYERS = ("ours, fused", "ours, explicit", "keras MultiHeadAttention")


def make_layer(name, position, heads, key_dim):
    import keras

    from keras_posemb import PositionalAttention

    if name == "keras MultiHeadAttention":
        layer = keras.layers.MultiHeadAttention(heads, key_dim)
        return lambda x: layer(x, x, use_causal_mask=True)
    fused = name == "ours, fused"
    layer = PositionalAttention(heads, key_dim, position, bidirectional=False, fused=fused)
    return layer


def one_case(args):
    """Runs in the child process: prints `{"ms": ..., "peak_mib": ...}`."""
    import resource
    import time

    import keras
    import numpy as np

    width = args.heads * args.key_dim
    inputs = keras.Input((args.length, width))
    model = keras.Model(inputs, make_layer(args.layer, args.position, args.heads, args.key_dim)(inputs))  # fmt: skip
    model.compile(keras.optimizers.SGD(1e-3), "mse", jit_compile=True)
    x = np.random.default_rng(0).normal(size=(args.batch, args.length, width)).astype("float32")
    model.train_on_batch(x, x)  # Compiles.
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(x, x)
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ms": float(np.median(times)) * 1000, "peak_mib": peak_kib / 1024}))


def run_case(args, layer, length):
    command = [sys.executable, __file__, "--one-case", "--layer", layer, "--length", str(length)]
    for flag in ("batch", "heads", "key_dim", "steps", "position"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1][:120]
    return json.loads(result.stdout.strip().splitlines()[-1]), None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="512,1024,2048,4096")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--key-dim", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--position", default="rotary")
    parser.add_argument("--one-case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layer", choices=LAYERS, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_case:
        return one_case(args)
    import keras

    print(
        f"Keras {keras.__version__}, backend {keras.backend.backend()}; causal self-attention, "
        f"{args.heads} heads x {args.key_dim}, batch {args.batch}, ours with {args.position!r} "
        f"positions; median of {args.steps} train steps; peak resident memory of the process\n"
    )
    print("| length | " + " | ".join(f"{name}: ms, MiB" for name in LAYERS) + " |")
    print("|---" * (len(LAYERS) + 1) + "|")
    for length in [int(v) for v in args.lengths.split(",")]:
        cells = []
        for layer in LAYERS:
            result, error = run_case(args, layer, length)
            cells.append(f"failed: {error}" if result is None else f"{result['ms']:.0f}, {result['peak_mib']:.0f}")  # fmt: skip
        print(f"| {length} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
