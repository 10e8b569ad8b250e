"""What the benchmarks share, for every Keras backend: timing, compilation,
precision bounds and the package's own limits."""

from __future__ import annotations

import time

import keras
import numpy as np

from keras_posemb.numerics.angles import MAX_POSITION  # noqa: F401  (for the scripts)

# Two units in the last place near 1.0 of each dtype: the precision bound.
TWO_ULP = {"float32": 2 * 2.0**-23, "float16": 2 * 2.0**-10, "bfloat16": 2 * 2.0**-7}


def as_float64(x) -> np.ndarray:
    """A tensor of any backend and float dtype (bfloat16 included) as float64."""
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")), np.float64)


def compile_modes(torch_backend: str = "inductor") -> dict:
    """`{mode: compile(function)}` for the active backend, uncompiled first,
    the fully compiled mode last (XLA, `jax.jit`, `torch.compile`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return {
            "eager": lambda f: f,
            "tf.function": lambda f: tf.function(f),
            "XLA": lambda f: tf.function(f, jit_compile=True),
        }
    if backend == "jax":
        import jax

        return {"op by op": lambda f: f, "jax.jit": jax.jit}
    import torch

    return {
        "eager": lambda f: f,
        "torch.compile": lambda f: torch.compile(f, backend=torch_backend),
    }


def compiled(function, torch_backend: str = "inductor"):
    """`function` in the backend's fully compiled mode."""
    return list(compile_modes(torch_backend).values())[-1](function)


def synchronize(result) -> None:
    """Waits until the device has computed `result`, without copying it."""
    backend = keras.backend.backend()
    if backend == "jax":
        result.block_until_ready()
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    else:
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):  # CPU ops finish before they return.
            tf.test.experimental.sync_devices()


def ms_per_call(function, x, calls: int) -> float:
    """Mean milliseconds per call over one block of `calls` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        result = function(x)
    synchronize(result)
    return (time.perf_counter() - start) / calls * 1000


def median_ms(function, x, calls: int, rounds: int) -> float:
    """The median over `rounds` blocks of the mean milliseconds per call."""
    return float(np.median([ms_per_call(function, x, calls) for _ in range(rounds)]))


def settings_from_pairs(config_class, pairs) -> dict:
    """`["epochs=5", ...]` (a study's `--set` flags) as `config_class` field values."""
    from keras_posemb.settings import field_types

    types, settings = field_types(config_class), {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        kind = types[name]
        settings[name] = value.lower() in ("1", "true") if kind is bool else kind(value)
    return settings


def trained_language_model(output_dir, text, settings: dict, **fields):
    """Trains (or reads back, when finished) a `keras-posemb-lm` run in
    `output_dir` on `text` (a file, or `None` for the built-in text) with a
    study's `--set` settings and `fields`: `(config, metrics, model)`."""
    from keras_posemb.runs.run import Run
    from keras_posemb.training import language_model

    config = language_model.LanguageModelConfig(
        text_file=str(text) if text else None, output_dir=str(output_dir), plots=False,
        verbose=0, **fields, **settings,
    )  # fmt: skip
    metrics = language_model.train_language_model(config)
    return config, metrics, Run(config.output_dir).load_model()
