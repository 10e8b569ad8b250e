"""Timing helpers shared by the benchmarks, for every Keras backend."""

from __future__ import annotations

import time

import keras
import numpy as np


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
