"""Largest error of the sinusoidal and rotary encodings against float64.

    python benchmarks/precision.py [--positions 262144 --width 64]

For every position below `--positions`, compares SinusoidalEncoding and the
sines and cosines of RotaryEmbedding (rotating unit vectors gives them
back), and keras_hub's SinePositionEncoding and RotaryEmbedding when
keras_hub is installed, with the float64 formulas, under the float32,
mixed_float16 and mixed_bfloat16 policies. Prints the largest absolute error
next to 2 units in the last place near 1.0. Runs under any Keras backend.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
from _common import MAX_POSITION, TWO_ULP, as_float64

import keras_posemb
from keras_posemb.layers.rotary_embedding import rotary_frequencies

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def sinusoidal_layers(hub):
    found = {"SinusoidalEncoding": lambda: keras_posemb.SinusoidalEncoding(add_to_inputs=False)}
    if hub is not None:
        found["keras_hub SinePositionEncoding"] = hub.SinePositionEncoding
    return found


def rotary_layers(hub):
    found = {"RotaryEmbedding": keras_posemb.RotaryEmbedding}
    if hub is not None:
        found["keras_hub RotaryEmbedding"] = hub.RotaryEmbedding
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=MAX_POSITION)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        from keras_hub import layers as hub
    except ImportError:
        hub = None
        print("keras_hub is not installed: its layers are left out.")
    positions, width = args.positions, args.width
    sinusoid = keras_posemb.sinusoidal_table(positions, width)
    angles = np.outer(np.arange(positions), rotary_frequencies(width))
    rotary = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    # Unit vectors: feature i of each pair is 1, so the rotation gives (cos, sin).
    unit = np.zeros((1, positions, width), "float32")
    unit[..., : width // 2] = 1
    print(f"positions 0..{positions - 1}, width {width}, backend {keras.backend.backend()}\n")
    print("| layer | policy | max abs error | 2 ulp near 1.0 |")
    print("|---|---|---:|---:|")
    for policy in POLICIES:
        keras.config.set_dtype_policy(policy)
        two_ulp = TWO_ULP[policy.split("_")[-1]]
        zeros = np.zeros((1, positions, width), "float32")
        results = {name: (make()(zeros), sinusoid) for name, make in sinusoidal_layers(hub).items()}
        results.update({name: (make()(unit), rotary) for name, make in rotary_layers(hub).items()})
        for name, (got, want) in results.items():
            error = np.abs(as_float64(got)[0] - want).max()
            print(f"| {name} | {policy} | {error:.3g} | {two_ulp:.3g} |")


if __name__ == "__main__":
    main()
