from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_posemb.errors import TokenIdError
from keras_posemb.layers._positions import dtype_name
from keras_posemb.layers._range_guard import guard_range, poison


def _in_symbolic_scope() -> bool:
    """Whether Keras is tracing shapes (`compute_output_spec`): TensorFlow's
    trainer under a distribution strategy builds the model on placeholders
    whose dtype need not be the data's (float64 for int ids)."""
    try:
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope
    except ImportError:  # Not in this Keras: the check runs on the placeholders.
        return False
    return in_symbolic_scope()


def check_token_ids(ids: Any, vocab_size: int, who: str) -> tuple[Any, Any]:
    """Checks that `ids` are integers in `[0, vocab_size)`, in their own dtype.

    Before any cast: a cast to int32 first would read `2**32 + 5` as 5, and
    a float id 1.5 as 1. Ids known now (NumPy, eager tensors) raise
    `TokenIdError`; in a TensorFlow graph an assertion with the same message
    runs before the ids are used. Where nothing can raise (`jax.jit`, XLA),
    each bad id is replaced by -1, which no cast turns into a real id and
    `TokenEmbedding` turns into NaN.

    Returns:
        `(ids, ok)`: the ids (NumPy values as given) and `None` when checked
        in Python, else a scalar boolean tensor for `_range_guard.poison`.
    """
    if isinstance(ids, keras.KerasTensor) or _in_symbolic_scope():
        return ids, None  # Shapes being worked out: placeholders, not data.
    values = ids if ops.is_tensor(ids) else np.asarray(ids)
    if "int" not in dtype_name(values):
        raise TokenIdError(
            f"{who}: token ids must be integers; received dtype {dtype_name(values)} (a cast "
            "would truncate 1.5 to the id 1)."
        )
    message = (
        f"{who}: token ids must lie in [0, {vocab_size}) (the vocabulary); received smallest "
        "id {low} and largest id {high}."
    )
    if len(values.shape) >= 2 and values.shape[-1] == 0:
        raise TokenIdError(
            f"{who}: token ids of shape {tuple(values.shape)} hold texts of no tokens; each text "
            "needs at least one."
        )
    if isinstance(values, np.ndarray):
        if values.size:
            guard_range(None, values.min(), values.max(), 0, vocab_size, message, TokenIdError)
        return ids, None
    # With a 0 among them (a valid id), so that an empty batch has a min and max.
    flat = ops.concatenate([ops.reshape(values, (-1,)), ops.zeros((1,), values.dtype)])
    values, ok = guard_range(
        values, ops.min(flat), ops.max(flat), 0, vocab_size, message, TokenIdError
    )
    if ok is not None:
        inside = ops.logical_and(ops.greater_equal(values, 0), ops.less(values, vocab_size))
        values = ops.where(inside, values, ops.cast(-1, values.dtype))
    return values, ok


@keras.saving.register_keras_serializable(package="keras_posemb")
class TokenEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` that refuses token ids it has no row for.

    `Embedding` reads an id past the vocabulary as an error on TensorFlow,
    as NaN on JAX, and a negative id as some other row; this layer holds the
    contract "integer ids in `[0, input_dim)`" the same way on every backend
    and path: ids known as the layer runs raise `TokenIdError`; ids only
    known inside a TensorFlow graph raise `InvalidArgumentError` with the
    same message; inside `jax.jit` and XLA, which cannot raise, the whole
    output is NaN. Never a silent row of another token.

    Args:
        input_dim: the vocabulary size (ids `0 .. input_dim - 1`).
        output_dim: the embedding width.
        **kwargs: other arguments of `keras.layers.Embedding`.

    Call arguments:
        inputs: integer tensor of token ids, any shape.

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    x = keras_posemb.modeling.TokenEmbedding(20000, 64)(token_ids)
    ```
    """

    def __init__(self, input_dim: int, output_dim: int, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        # NumPy ids are checked before Keras makes tensors of them: JAX
        # (without x64) narrows int64 to int32, so 2**32 + i would be i.
        if not ops.is_tensor(inputs) and not isinstance(inputs, keras.KerasTensor):
            check_token_ids(inputs, self.input_dim, self._who())
        return super().__call__(inputs, *args, **kwargs)

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def call(self, inputs):
        inputs, ok = check_token_ids(inputs, self.input_dim, self._who())
        return poison(super().call(inputs), ok)
