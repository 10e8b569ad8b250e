"""Time and peak memory of attention at long sequences: a train step, or a
forward pass (`--forward`).

`PositionalAttention` on its fused path (`keras.ops.dot_product_attention`),
its explicit path (`fused=False`) and its blockwise path
(`attention_block_size=--block-size`), against
`keras.layers.MultiHeadAttention`, all causal, one self-attention layer of
`heads x key_dim` on `(batch, length, heads * key_dim)` inputs (with an MSE
loss for training), under the active Keras backend. Each (layer, length)
runs in a fresh process, so its peak resident memory (`ru_maxrss`) is its
own, and a case that runs out of memory is reported as failed; time is the
median of the timed calls after a compiled warm-up call. The last line per
layer fits how its memory above that of a 64-token case grows with the
length: the exponent of `length^x` (2 for the full logits, 1 for linear).

    KERAS_BACKEND=jax python benchmarks/attention_cost.py [--lengths 512,1024,2048,4096]
    KERAS_BACKEND=jax python benchmarks/attention_cost.py --forward --lengths 4096,16384,65536 --layers explicit,blockwise
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# --layers key: the column's title.
LAYERS = {
    "fused": "ours, fused",
    "explicit": "ours, explicit",
    "blockwise": "ours, blockwise",
    "keras": "keras MultiHeadAttention",
}
# The case whose memory is subtracted before the exponent is fitted: the
# libraries' and the compiler's share.
BASELINE_LENGTH = 64


def make_layer(name, position, heads, key_dim, block_size):
    import keras

    from keras_posemb import PositionalAttention

    if name == "keras":
        layer = keras.layers.MultiHeadAttention(heads, key_dim)
        return lambda x: layer(x, x, use_causal_mask=True)
    blockwise = {"attention_block_size": block_size} if name == "blockwise" else {}
    fused = name == "fused"
    return PositionalAttention(
        heads, key_dim, position, bidirectional=False, fused=fused, **blockwise
    )


def one_case(args):
    """Runs in the child process: prints `{"ms": ..., "peak_mib": ...}`."""
    import resource
    import time

    import keras
    import numpy as np

    width = args.heads * args.key_dim
    inputs = keras.Input((args.length, width))
    layer = make_layer(args.layer, args.position, args.heads, args.key_dim, args.block_size)
    model = keras.Model(inputs, layer(inputs))
    model.compile(keras.optimizers.SGD(1e-3), "mse", jit_compile=True)
    x = np.random.default_rng(0).normal(size=(args.batch, args.length, width)).astype("float32")
    run = model.predict_on_batch if args.forward else lambda x: model.train_on_batch(x, x)
    run(x)  # Compiles.
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ms": float(np.median(times)) * 1000, "peak_mib": peak_kib / 1024}))


def run_case(args, layer, length):
    command = [sys.executable, __file__, "--one-case", "--layer", layer, "--length", str(length)]
    for flag in ("batch", "heads", "key_dim", "steps", "position", "block_size"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.forward:
        command.append("--forward")
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
    parser.add_argument(
        "--block-size", type=int, default=512, help="tokens per query and key block (blockwise)"
    )
    parser.add_argument(
        "--forward", action="store_true", help="time a forward pass, not a train step"
    )
    parser.add_argument("--layers", default=",".join(LAYERS), help="of " + ", ".join(LAYERS))
    parser.add_argument("--one-case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layer", choices=LAYERS, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_case:
        return one_case(args)
    import keras

    layers = args.layers.split(",")
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        parser.error(
            f"--layers: unknown {', '.join(unknown)}; expected some of {', '.join(LAYERS)}"
        )
    lengths = [int(v) for v in args.lengths.split(",")]
    what = "forward passes" if args.forward else "train steps"
    print(
        f"Keras {keras.__version__}, backend {keras.backend.backend()}; causal self-attention, "
        f"{args.heads} heads x {args.key_dim}, batch {args.batch}, ours with {args.position!r} "
        f"positions, blockwise in blocks of {args.block_size} tokens; median of {args.steps} {what}; peak "
        "resident memory of the process\n"
    )
    print("| length | " + " | ".join(f"{LAYERS[name]}: ms, MiB" for name in layers) + " |")
    print("|---" * (len(layers) + 1) + "|")
    peaks = {name: {} for name in layers}
    for length in lengths:
        cells = []
        for layer in layers:
            result, error = run_case(args, layer, length)
            if result is not None:
                peaks[layer][length] = result["peak_mib"]
            cells.append(f"failed: {error}" if result is None else f"{result['ms']:.0f}, {result['peak_mib']:.0f}")  # fmt: skip
        print(f"| {length} | " + " | ".join(cells) + " |")
    print()
    for layer in layers:
        print(f"{LAYERS[layer]}: {growth(args, layer, peaks[layer])}")


def growth(args, layer, peaks):
    """How memory above the baseline case's grows: the fitted exponent."""
    import numpy as np

    if len([n for n in peaks if n > BASELINE_LENGTH]) < 2:
        return f"too few lengths above {BASELINE_LENGTH} to fit an exponent"
    baseline, error = run_case(args, layer, BASELINE_LENGTH)
    if baseline is None:
        return f"no baseline ({error})"
    points = [(n, p - baseline["peak_mib"]) for n, p in peaks.items() if p > baseline["peak_mib"]]
    if len(points) < 2:
        return "too few lengths above the baseline to fit an exponent"
    lengths, extra = np.log([n for n, _ in points]), np.log([m for _, m in points])
    exponent = np.polyfit(lengths, extra, 1)[0]
    return f"memory above the {BASELINE_LENGTH}-token case grows as length^{exponent:.2f}"


if __name__ == "__main__":
    main()
