"""Forward time of each position layer against the bare operation it adds,
under the active Keras backend (set KERAS_BACKEND).

Three groups, each against its own baseline, all timed in one process and
interleaved round by round:

- absolute layers on embeddings `(batch, sequence, width)`: SinusoidalEncoding
  and PositionEmbedding (returning `inputs + encoding`) against the bare add
  of a precomputed table, and keras_hub's SinePositionEncoding and
  PositionEmbedding followed by the add;
- rotary on queries `(batch, sequence, heads, head_dim)`: RotaryEmbedding
  against the bare rotation with precomputed cosines and sines, and
  keras_hub's RotaryEmbedding;
- attention biases on scores `(batch, heads, sequence, sequence)`: AlibiBias
  and RelativePositionBias against the bare add of a precomputed bias, and
  keras_hub's AlibiBias (causal only, so a different bias at the same cost);
- grid layers on patches `(batch, grid, grid, width)`: SinusoidalEncoding2D
  and PositionEmbedding2D (on its own grid, and resampled at call time from
  half the grid) against the bare add, and keras_hub's PositionEmbedding
  over the flattened patches (its ViT's table is 1-D);
- grid rotary on queries `(batch, grid * grid, heads, head_dim)`:
  RotaryEmbedding2D, axial and mixed, against the bare axial rotation.

keras_hub's layers are left out when it is not installed. Each runs in the
backend's modes: TensorFlow eager, `tf.function` and XLA; JAX op by op and
`jax.jit`; PyTorch eager and `torch.compile`.

    KERAS_BACKEND=jax python benchmarks/layer_forward.py [--batch 32 --length 512 --width 256]

Prints a markdown table per group of the median, over rounds, of the
milliseconds per call in a round, and the ratio to the group's baseline in
the same mode.
"""

from __future__ import annotations

import argparse
import os
import platform

import keras
import numpy as np
from _common import compile_modes, ms_per_call, synchronize

import keras_posemb
from keras_posemb.layers.rotary_embedding import rotary_frequencies


def keras_hub_layers():
    try:
        import keras_hub
    except ImportError:
        print("keras_hub is not installed: its layers are left out.")
        return None
    return keras_hub.layers


def absolute_group(args, hub):
    x = keras.random.normal((args.batch, args.length, args.width), seed=0)
    table = keras.ops.convert_to_tensor(
        keras_posemb.sinusoidal_table(args.length, args.width), "float32"
    )
    functions = {
        "bare add x + table": lambda x: x + table,
        "SinusoidalEncoding": keras_posemb.SinusoidalEncoding(),
        "PositionEmbedding": keras_posemb.PositionEmbedding(args.length),
    }
    if hub is not None:
        sine, learned = hub.SinePositionEncoding(), hub.PositionEmbedding(args.length)
        functions["keras_hub SinePositionEncoding + add"] = lambda x: x + sine(x)
        functions["keras_hub PositionEmbedding + add"] = lambda x: x + learned(x)
    return x, functions


def rotary_group(args, hub):
    head_dim = args.width // args.heads
    x = keras.random.normal((args.batch, args.length, args.heads, head_dim), seed=1)
    angles = np.outer(np.arange(args.length), rotary_frequencies(head_dim))
    cos = keras.ops.convert_to_tensor(np.cos(angles)[:, None, :], "float32")
    sin = keras.ops.convert_to_tensor(np.sin(angles)[:, None, :], "float32")
    half = head_dim // 2

    def bare_rotation(x):
        first, second = x[..., :half], x[..., half:]
        return keras.ops.concatenate([first * cos - second * sin, second * cos + first * sin], -1)

    functions = {
        "bare rotation, precomputed": bare_rotation,
        "RotaryEmbedding": keras_posemb.RotaryEmbedding(),
    }
    if hub is not None:
        functions["keras_hub RotaryEmbedding"] = hub.RotaryEmbedding()
    return x, functions


def bias_group(args, hub):
    length = args.bias_length
    scores = keras.random.normal((args.batch, args.heads, length, length), seed=2)
    distance = np.abs(np.subtract.outer(np.arange(length), np.arange(length)))
    bias = keras.ops.convert_to_tensor(
        -keras_posemb.layers.alibi_slopes(args.heads)[:, None, None] * distance, "float32"
    )
    t5 = keras_posemb.RelativePositionBias(args.heads, embeddings_initializer="random_normal")
    functions = {
        "bare add scores + bias": lambda s: s + bias,
        "AlibiBias": keras_posemb.AlibiBias(),
        "RelativePositionBias (T5)": t5,
    }
    if hub is not None:
        functions["keras_hub AlibiBias (causal)"] = hub.AlibiBias()
    return scores, functions


def grid_group(args, hub):
    side, width = args.grid, args.width
    x = keras.random.normal((args.batch, side, side, width), seed=3)
    table = keras.ops.convert_to_tensor(
        keras_posemb.layers.sinusoidal_grid_table(side, side, width), "float32"
    )
    functions = {
        "bare add x + table": lambda x: x + table,
        "SinusoidalEncoding2D": keras_posemb.SinusoidalEncoding2D(),
        "PositionEmbedding2D": keras_posemb.PositionEmbedding2D((side, side)),
        f"PositionEmbedding2D, {side // 2}x{side // 2} table resampled": (
            keras_posemb.PositionEmbedding2D((side // 2, side // 2))
        ),
    }
    if hub is not None:  # ViT's table in keras_hub is 1-D, over the flattened patches.
        learned = hub.PositionEmbedding(side * side)

        def flattened(x):
            flat = keras.ops.reshape(x, (args.batch, side * side, width))
            return keras.ops.reshape(flat + learned(flat), (args.batch, side, side, width))

        functions["keras_hub PositionEmbedding, flattened + add"] = flattened
    return x, functions


def grid_rotary_group(args, hub):
    side, head_dim = args.grid, args.width // args.heads
    x = keras.random.normal((args.batch, side * side, args.heads, head_dim), seed=4)
    axial = keras_posemb.RotaryEmbedding2D((side, side))
    axial.build(x.shape)
    angles = axial.axial_angles()[:, None, :]
    cos = keras.ops.convert_to_tensor(np.cos(angles), "float32")
    sin = keras.ops.convert_to_tensor(np.sin(angles), "float32")
    half = head_dim // 2

    def bare_rotation(x):
        first, second = x[..., :half], x[..., half:]
        return keras.ops.concatenate([first * cos - second * sin, second * cos + first * sin], -1)

    functions = {
        "bare rotation, precomputed": bare_rotation,
        "RotaryEmbedding2D (axial)": axial,
        "RotaryEmbedding2D (mixed, learned)": keras_posemb.RotaryEmbedding2D(
            (side, side), mixed=True, seed=0
        ),
    }
    return x, functions


def median_over_rounds(timings):
    """`{key: median}` of the per-round timings."""
    return {key: float(np.median(values)) for key, values in timings.items()}


def time_group(x, functions, compilers, rounds, calls):
    """`{(name, mode): median ms}`; checks that the fixed encodings agree first."""
    compiled = {
        (name, mode): compile_(function)
        for name, function in functions.items()
        for mode, compile_ in compilers.items()
    }
    for function in compiled.values():
        synchronize(function(x))  # Traces and compiles before timing.
    timings = {key: [] for key in compiled}
    for _ in range(rounds):
        for key, function in compiled.items():
            timings[key].append(ms_per_call(function, x, calls))
    return median_over_rounds(timings)


def print_table(title, functions, compilers, medians):
    print(f"\n{title}\n")
    print("| layer | " + " | ".join(f"{m} ms | {m} / bare" for m in compilers) + " |")
    print("|---|" + "---:|" * (2 * len(compilers)))
    baseline = next(iter(functions))
    for name in functions:
        cells = []
        for mode in compilers:
            ms = medians[(name, mode)]
            cells += [f"{ms:.3f}", f"{ms / medians[(baseline, mode)]:.2f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |")


# The layers that compute exactly what their group's baseline does.
FIXED = ("SinusoidalEncoding", "RotaryEmbedding", "AlibiBias", "SinusoidalEncoding2D",
         "RotaryEmbedding2D (axial)")  # fmt: skip


def check_agreement(x, functions):
    """The fixed encodings compute what their baseline computes."""
    names = list(functions)
    want = keras.ops.convert_to_numpy(functions[names[0]](x))
    for name in names[1:]:
        if name in FIXED:
            got = keras.ops.convert_to_numpy(functions[name](x))
            np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)


GROUPS = {
    "absolute": absolute_group,
    "rotary": rotary_group,
    "biases": bias_group,
    "grid": grid_group,
    "grid_rotary": grid_rotary_group,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument(
        "--bias-length", type=int, default=256, help="sequence length of the scores"
    )
    parser.add_argument("--grid", type=int, default=16, help="patches per side of the grids")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20, help="calls per timing")
    parser.add_argument(
        "--groups", default=",".join(GROUPS), help=f"which groups, of {', '.join(GROUPS)}"
    )
    args = parser.parse_args(argv)
    chosen = args.groups.split(",")
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        parser.error(f"--groups: unknown {unknown}; expected some of {', '.join(GROUPS)}")
    hub = keras_hub_layers()
    compilers = compile_modes()
    print(
        f"\nKeras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; float32; median "
        f"of {args.rounds} rounds x {args.calls} calls"
    )
    titles = {
        "absolute": f"Absolute, on embeddings ({args.batch}, {args.length}, {args.width})",
        "rotary": f"Rotary, on queries ({args.batch}, {args.length}, {args.heads}, {args.width // args.heads})",
        "biases": f"Biases, on scores ({args.batch}, {args.heads}, {args.bias_length}, {args.bias_length})",
        "grid": f"Grid, on patches ({args.batch}, {args.grid}, {args.grid}, {args.width})",
        "grid_rotary": f"Grid rotary, on queries ({args.batch}, {args.grid}x{args.grid}, {args.heads}, {args.width // args.heads})",
    }
    for name in chosen:
        title, make = titles[name], GROUPS[name]
        x, functions = make(args, hub)
        check_agreement(x, functions)
        medians = time_group(x, functions, compilers, args.rounds, args.calls)
        print_table(title, functions, compilers, medians)


if __name__ == "__main__":
    main()
