"""Largest error of the sinusoidal encoding against the float64 formula.

    python benchmarks/precision.py [--positions 100001 --width 64]

For every position below `--positions`, compares SinusoidalEncoding (and
keras_hub's SinePositionEncoding when keras_hub is installed) with the float64
formula under the float32, mixed_float16 and mixed_bfloat16 policies, and
prints the largest absolute error next to 2 units in the last place near 1.0.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_posemb  # noqa: E402

TWO_ULP = {"float32": 2 * 2.0**-23, "float16": 2 * 2.0**-10, "bfloat16": 2 * 2.0**-7}


def layers():
    found = {"SinusoidalEncoding": lambda: keras_posemb.SinusoidalEncoding(add_to_inputs=False)}
    try:
        import keras_hub

        found["keras_hub SinePositionEncoding"] = keras_hub.layers.SinePositionEncoding
    except ImportError:
        print("keras_hub is not installed: its layer is left out.")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=100_001)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    reference = keras_posemb.sinusoidal_table(args.positions, args.width)
    zeros = np.zeros((1, args.positions, args.width), "float32")
    print(f"positions 0..{args.positions - 1}, width {args.width}\n")
    print("| layer | policy | max abs error | 2 ulp near 1.0 |")
    print("|---|---|---:|---:|")
    for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        dtype = policy.split("_")[-1]
        for name, make in layers().items():
            got = keras.ops.convert_to_numpy(keras.ops.cast(make()(zeros), "float64"))[0]
            error = np.abs(got - reference).max()
            print(f"| {name} | {policy} | {error:.3g} | {TWO_ULP[dtype]:.3g} |")


if __name__ == "__main__":
    main()
