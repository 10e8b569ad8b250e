"""Range checks of positions that raise on every execution path.

Arguments are checked in `keras_posemb._args` when a layer is made; this
module checks tensor values as the layer runs. `keras.ops` has no assertion
op, so this is the one place in the layers that looks at the backend:

- a value known when the layer runs (Python int, eager tensor, graph
  constant) is checked in Python and raises `PositionRangeError`;
- a value only known at run time of a TensorFlow graph gets a
  `tf.debugging.Assert`, which raises `InvalidArgumentError` with the same
  message and the offending values;
- XLA compiles asserts away, so the result is also poisoned with NaN where the
  check fails: a run-time value that XLA cannot report still never turns into
  a silent clamp or a row of zeros.
"""

import re

import keras
import numpy as np
from keras import ops

from keras_posemb.errors import PositionRangeError


def static_value(x):
    """`x` as a NumPy value if it is known now, else `None`.

    Known: Python and NumPy values, eager tensors, TensorFlow graph
    constants. Unknown: Keras symbolic tensors, JAX tracers and symbolic
    dimensions, TensorFlow graph tensors, tensors traced by torch.compile.
    """
    if isinstance(x, (int, np.integer, np.ndarray, list, tuple)):
        return np.asarray(x)
    if isinstance(x, keras.KerasTensor):
        return None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.get_static_value(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # A traced value (jax.jit, torch.compile), a symbolic dimension.
        return None


def guard_range(tensor, low, high, lower_bound, upper_bound, message, error=PositionRangeError):
    """Checks `lower_bound <= low` and `high < upper_bound`.

    Args:
        tensor: a tensor that the guarded computation reads; in a TensorFlow
            graph it is returned with a control dependency on the assertion,
            so the assertion runs before anything that uses it.
        low: the smallest value to check (int or scalar integer tensor).
        high: the largest value to check (int or scalar integer tensor).
        lower_bound: Python int, the smallest allowed value.
        upper_bound: Python int, one more than the largest allowed value.
        message: the error message, with `{low}` and `{high}` where the
            checked values go.
        error: the exception class raised when the values are known.

    Returns:
        `(tensor, ok)`: `ok` is `None` when the check was done in Python,
        else a scalar boolean tensor to pass to `poison`.
    """
    low_value, high_value = static_value(low), static_value(high)
    if low_value is not None and high_value is not None:
        low_value, high_value = int(low_value), int(high_value)
        if not (lower_bound <= low_value and high_value < upper_bound):
            raise error(message.format(low=low_value, high=high_value))
        return tensor, None
    ok = ops.logical_and(ops.greater_equal(low, lower_bound), ops.less(high, upper_bound))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        values = {"{low}": low, "{high}": high}
        parts = re.split(r"(\{low\}|\{high\})", message)
        data = [values.get(part, part) for part in parts if part]
        with tf.control_dependencies([tf.debugging.Assert(ok, data)]):
            tensor = tf.identity(tensor)
    return tensor, ok


def poison(result, ok):
    """`result` where `ok` holds, NaN elsewhere (for paths that cannot raise)."""
    if ok is None:
        return result
    return ops.where(ok, result, ops.cast(float("nan"), result.dtype))
