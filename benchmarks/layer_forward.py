"""Forward time of the position layers against a bare `x + table` add.

Times, in one process and interleaved round by round, the forward pass of
SinusoidalEncoding and PositionEmbedding (both returning `inputs + encoding`),
the bare add of a precomputed table, and keras_hub's SinePositionEncoding and
PositionEmbedding followed by the add when keras_hub is installed. Each is run
eagerly, under `tf.function`, and under `tf.function(jit_compile=True)`.

    python benchmarks/layer_forward.py [--batch 32 --length 512 --width 256]

Prints a markdown table of median milliseconds per call and the ratio to the
bare add in the same mode.
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_posemb  # noqa: E402


def candidates(width, length):
    table = tf.constant(keras_posemb.sinusoidal_table(length, width), tf.float32)
    sinusoidal = keras_posemb.SinusoidalEncoding()
    learned = keras_posemb.PositionEmbedding(length)
    found = {
        "bare add x + table": lambda x: x + table,
        "SinusoidalEncoding": sinusoidal,
        "PositionEmbedding": learned,
    }
    try:
        import keras_hub
    except ImportError:
        print("keras_hub is not installed: its layers are left out.")
        return found
    hub_sine = keras_hub.layers.SinePositionEncoding()
    hub_learned = keras_hub.layers.PositionEmbedding(length)
    found["keras_hub SinePositionEncoding + add"] = lambda x: x + hub_sine(x)
    found["keras_hub PositionEmbedding + add"] = lambda x: x + hub_learned(x)
    return found


def compiled(fn, mode):
    if mode == "eager":
        return fn
    return tf.function(fn, jit_compile=(mode == "jit_compile"))


def ms_per_call(fn, x, calls):
    """Mean milliseconds per call over one block of `calls` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        result = fn(x)
    result.numpy()  # Waits for the last call.
    return (time.perf_counter() - start) / calls * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20, help="calls per timing")
    args = parser.parse_args()

    x = tf.random.normal((args.batch, args.length, args.width))
    modes = ["eager", "tf.function", "jit_compile"]
    functions = {
        (name, mode): compiled(fn, mode)
        for name, fn in candidates(args.width, args.length).items()
        for mode in modes
    }
    reference = functions[("bare add x + table", "eager")](x).numpy()
    for (name, mode), fn in functions.items():
        result = fn(x)  # Also traces and compiles before timing.
        if "Embedding" not in name:  # Learned tables start random.
            np.testing.assert_allclose(result, reference, atol=1e-4, err_msg=f"{name} {mode}")
    timings = {key: [] for key in functions}
    for _ in range(args.rounds):
        for key, fn in functions.items():
            timings[key].append(ms_per_call(fn, x, args.calls))

    print(
        f"\nbatch {args.batch}, sequence {args.length}, width {args.width}, float32; "
        f"TensorFlow {tf.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, GPUs: {len(tf.config.list_physical_devices('GPU'))}; "
        f"median of {args.rounds} rounds x {args.calls} calls\n"
    )
    print("| layer | " + " | ".join(f"{m} ms | {m} / add" for m in modes) + " |")
    print("|---|" + "---:|" * (2 * len(modes)))
    names = dict.fromkeys(name for name, _ in functions)
    for name in names:
        cells = []
        for mode in modes:
            ms = np.median(timings[(name, mode)])
            base = np.median(timings[("bare add x + table", mode)])
            cells += [f"{ms:.3f}", f"{ms / base:.2f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
