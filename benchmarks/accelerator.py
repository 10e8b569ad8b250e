"""Precision, forward cost and training speed on whatever device is present,
with only Keras and one backend (no TensorFlow needed: for GPU machines that
carry JAX or PyTorch alone).

1. Precision of `SinusoidalEncoding` over positions 0..262,143 in float32,
   float16 and bfloat16 against the float64 NumPy formula (and keras_hub's
   SinePositionEncoding where installed), largest absolute error next to
   2 units in the last place near 1.0.
2. Forward cost of each position layer against the bare `x + table` add at
   (32, 512, 256) and (16, 4096, 1024), float32 and bfloat16, compiled
   (jax.jit, torch.compile, or XLA under TensorFlow).
3. Training examples/s and test accuracy of the trainer's default
   classifier on the built-in `order` data, tokenized in NumPy, in float32
   and mixed bfloat16, at batch 64 and 512.

    KERAS_BACKEND=jax python benchmarks/accelerator.py [--small] [--epochs 3]

`--small` shrinks every part to seconds (the tests run it so on CPU).
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import sys
import time

import keras
import numpy as np
from _common import MAX_POSITION, TWO_ULP, as_float64, compiled, median_ms, synchronize

import keras_posemb
from keras_posemb import models
from keras_posemb.data import order_dataset


def device_name():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}: {device.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else "cpu"


def precision(positions):
    """Largest error against float64 per layer and dtype."""
    layers = {
        "SinusoidalEncoding": lambda dtype: keras_posemb.SinusoidalEncoding(
            add_to_inputs=False, dtype=dtype
        )
    }
    try:
        import keras_hub

        layers["keras_hub SinePositionEncoding"] = lambda dtype: (
            keras_hub.layers.SinePositionEncoding(dtype=dtype)
        )
    except ImportError:
        pass
    width, rows = 64, []
    reference = keras_posemb.sinusoidal_table(positions, width)
    for dtype in ("float32", "float16", "bfloat16"):
        for name, make in layers.items():
            zeros = keras.ops.zeros((1, positions, width), dtype)
            error = float(np.max(np.abs(as_float64(make(dtype)(zeros))[0] - reference)))
            rows.append(
                {"layer": name, "dtype": dtype, "max_abs_error": error, "two_ulp": TWO_ULP[dtype]}
            )
    return rows


def time_call(function, x, calls=20, rounds=7):
    """Median over rounds of the mean milliseconds per call, after compiling."""
    synchronize(function(x))
    return median_ms(function, x, calls, rounds)


def layer_functions(length, width, dtype):
    """`{name: function of x}`: the bare add and each position layer."""
    table = keras.ops.cast(keras_posemb.sinusoidal_table(length, width), dtype)
    sinusoidal = keras_posemb.SinusoidalEncoding(dtype=dtype)
    learned = keras_posemb.PositionEmbedding(length, dtype=dtype)
    learned.build((None, None, width))
    return {
        "bare add x + table": lambda x: x + table,
        "SinusoidalEncoding": lambda x: sinusoidal(x),
        "PositionEmbedding": lambda x: learned(x),
    }


def forward_cost(shapes, calls, rounds, torch_backend):
    rows = []
    for batch, length, width in shapes:
        for dtype in ("float32", "bfloat16"):
            x = keras.ops.cast(keras.random.normal((batch, length, width), seed=0), dtype)
            base = None
            for name, function in layer_functions(length, width, dtype).items():
                ms = time_call(compiled(function, torch_backend), x, calls, rounds)
                base = base or ms
                rows.append(
                    {
                        "shape": [batch, length, width],
                        "dtype": dtype,
                        "layer": name,
                        "ms": ms,
                        "ratio": ms / base,
                    }
                )
    return rows


def tokenize(texts, vocabulary, length):
    ids = np.zeros((len(texts), length), "int32")
    for row, text in zip(ids, texts):
        tokens = [vocabulary.get(word, 1) for word in text.split()][:length]
        row[: len(tokens)] = tokens
    return ids


def training(policy, batch_size, sizes, epochs):
    """Examples/s (epochs after the first) and test accuracy of the default classifier."""
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    data = order_dataset(*sizes, seed=0)
    counts = collections.Counter(word for text in data.train.texts for word in text.split())
    vocabulary = {
        word: i + 2 for i, (word, _) in enumerate(counts.most_common())
    }  # 0: padding, 1: unknown.
    length = 32
    train_ids, test_ids = (tokenize(s.texts, vocabulary, length) for s in (data.train, data.test))
    model = models.build_text_classifier(len(vocabulary) + 2, 2, length, norm_first=True)
    model.compile(
        keras.optimizers.AdamW(1e-3),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(train_ids, data.train.labels, batch_size=batch_size, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    accuracy = model.evaluate(
        test_ids, data.test.labels, batch_size=512, verbose=0, return_dict=True
    )["accuracy"]
    keras.config.set_dtype_policy("float32")
    timed = seconds[1:] or seconds
    return {
        "policy": policy,
        "batch_size": batch_size,
        "examples_per_second": len(train_ids) / float(np.mean(timed)),
        "test_accuracy": float(accuracy),
    }


def table(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a few seconds on CPU (for tests)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--torch-compile-backend", default="inductor", help="torch.compile's backend"
    )
    args = parser.parse_args(argv)
    if args.small:
        positions, shapes, calls, rounds = 4096, [(2, 64, 32)], 2, 2
        sizes, batches, epochs = (512, 64, 64), (64,), 2
    else:
        positions, shapes, calls, rounds = MAX_POSITION, [(32, 512, 256), (16, 4096, 1024)], 20, 7
        sizes, batches, epochs = (16000, 2000, 2000), (64, 512), args.epochs
    results = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "device": device_name(),
        "machine": platform.machine(),
        "precision": precision(positions),
        "forward": forward_cost(shapes, calls, rounds, args.torch_compile_backend),
        "training": [
            training(p, b, sizes, epochs) for p in ("float32", "mixed_bfloat16") for b in batches
        ],
    }
    print(f"\nbackend {results['backend']}, Keras {results['keras']}, device {results['device']}\n")
    print(f"Precision over positions 0..{positions - 1}, width 64:\n")
    print(table(results["precision"], ["layer", "dtype", "max_abs_error", "two_ulp"]))
    print("\nForward, compiled, median ms per call:\n")
    print(table(results["forward"], ["shape", "dtype", "layer", "ms", "ratio"]))
    print(
        f"\nTraining the default classifier on `order` ({sizes[0]} sentences), epochs after the first:\n"
    )
    print(
        table(results["training"], ["policy", "batch_size", "examples_per_second", "test_accuracy"])
    )
    print(f"\nTensorFlow imported: {sys.modules.get('tensorflow') is not None}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
