"""What a run sets up in the process: devices, precision, seeds and data parallelism."""

from __future__ import annotations

import contextlib
import os

import keras

from keras_posemb.settings.text import check_strategy


def precision_policy(mixed_precision: bool) -> str:
    """float16 where GPUs do it fast, bfloat16 on CPUs, else float32."""
    if not mixed_precision:
        return "float32"
    return "mixed_float16" if _gpu_names() else "mixed_bfloat16"


def _gpu_names() -> list[str]:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in gpus
        ]
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def describe_devices() -> str:
    gpus = _gpu_names()
    if gpus:
        return f"{len(gpus)} GPU(s): {', '.join(gpus)}"
    return f"CPU ({os.cpu_count()} cores)"


@contextlib.contextmanager
def process_settings(config):
    """Sets the dtype policy, seeds and determinism for one run; restores them after.

    The dtype policy and TensorFlow's op determinism are process-wide, so a
    caller (a notebook, a test) gets its own back when `train` returns.
    """
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision_policy(config.mixed_precision))
    keras.utils.set_random_seed(config.seed)
    # Same seed, same metrics. XLA on CPU is deterministic by itself, and
    # on GPUs determinism can slow or refuse ops, so only CPU runs ask.
    determinism = (
        keras.backend.backend() == "tensorflow" and not config.jit_compile and not _gpu_names()
    )
    if determinism:
        # The public API can switch determinism on, but not tell or undo it.
        from tensorflow.python.framework import config as tf_config

        deterministic = tf_config.is_op_determinism_enabled()
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(policy)
        if determinism and not deterministic:
            tf_config.disable_op_determinism()


class Distribution:
    """Data parallelism for `--strategy` on the active backend.

    `"mirrored"` is `tf.distribute.MirroredStrategy` on TensorFlow and
    `keras.distribution.DataParallel` on JAX, over all local GPUs (or CPUs
    split into logical devices, as the tests do).
    """

    def __init__(self, name: str):
        self.name = check_strategy(name)
        self.backend = keras.backend.backend()
        self._strategy = self._distribution = None
        if name == "default":
            self.replicas = 1
        elif self.backend == "tensorflow":
            import tensorflow as tf

            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
            self._strategy = tf.distribute.MirroredStrategy(devices)
            self.replicas = self._strategy.num_replicas_in_sync
        elif self.backend == "jax":
            self._distribution = keras.distribution.DataParallel()
            self.replicas = len(self._distribution.device_mesh.devices.ravel())
        # JAX splits each batch evenly over its devices; TensorFlow splits
        # uneven batches itself.
        self.batch_multiple = self.replicas if self._distribution is not None else 1

    @contextlib.contextmanager
    def scope(self):
        if self._strategy is not None:
            with self._strategy.scope():
                yield
        elif self._distribution is not None:
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(self._distribution)
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)
        else:
            yield
