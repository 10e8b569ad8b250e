"""The base of the layers that add a relative-position bias to attention logits."""

from __future__ import annotations

import keras
from keras import ops

from keras_posemb.layers._positions import PositionArguments, docstring_part, dtype_name
from keras_posemb.layers._range_guard import poison

# Logits of masked keys: far below any real logit, and finite, so that a
# row with every key masked gives no NaN.
MASKED_LOGIT = -1e9


CALL_ARGUMENTS = """Call arguments:
        attention_scores: float tensor `(batch, heads, query, key)`.
        start_index: position of the first query (cached decoding: the
            keys are at positions `0 .. key - 1`). Defaults to `0`.
        positions: optional integer tensor `(query,)` or `(batch, query)`
            with the positions of the queries and of the keys alike
            (self-attention, `query == key`), e.g. to skip left padding.

    Returns:
        `attention_scores + bias`."""

# Subclasses' docstrings say `{call_arguments}` where these go.
with_call_arguments = docstring_part("call_arguments", CALL_ARGUMENTS)


def masked_after_the_query(bias, query_positions, key_positions):
    """`bias` `(..., heads, query, key)` with `MASKED_LOGIT` where the key comes
    after its query: a causal bias masks the future itself, so that it is
    causal also when added to scores on its own (attention layers mask too)."""
    later = ops.greater(ops.expand_dims(key_positions, -2), ops.expand_dims(query_positions, -1))
    return ops.where(ops.expand_dims(later, -3), MASKED_LOGIT, bias)


class AttentionBias(PositionArguments, keras.layers.Layer):
    """Adds `bias(query_positions, key_positions)` to `(batch, heads, query, key)` scores.

    Subclasses implement `bias(query_positions, key_positions)`: integer
    positions `(..., query)` and `(..., key)` to a float32 bias
    `(..., heads, query, key)`. Queries sit at `start_index ..`, keys at
    `0 .. key - 1`, unless `positions` gives both (self-attention).

    This is the interface `PositionalAttention` accepts for the logits
    (`attention_role = "logits"`); a subclass that cannot serve some head
    count overrides `check_attention`.
    """

    attention_role = "logits"
    _inputs_name = "attention_scores"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None:
            raise ValueError(
                f"{self._who()} expects `attention_scores` of shape (batch, heads, query, key) "
                f"with a known number of heads; received attention_scores.shape="
                f"{tuple(input_shape)}."
            )
        self.num_heads = int(input_shape[1])

    def call(self, attention_scores, start_index=0, positions=None):
        if "float" not in dtype_name(attention_scores):
            raise ValueError(
                f"{self._who()} expects floating-point `attention_scores`; received "
                f"attention_scores.dtype={dtype_name(attention_scores)}."
            )
        if attention_scores.shape[1] is not None and attention_scores.shape[1] != self.num_heads:
            raise ValueError(
                f"{self._who()} was built for {self.num_heads} heads; received "
                f"attention_scores.shape={tuple(attention_scores.shape)}."
            )
        query_length, key_length = ops.shape(attention_scores)[2], ops.shape(attention_scores)[3]
        start, positions, ok = self.resolve_positions(
            start_index, positions, query_length, attention_scores.shape, "attention_scores"
        )
        if positions is None:
            queries = ops.arange(query_length, dtype="int32") + start
            keys = ops.arange(key_length, dtype="int32")
        else:
            if isinstance(query_length, int) and isinstance(key_length, int) and query_length != key_length:  # fmt: skip
                raise ValueError(
                    f"{self._who()}: `positions` gives the positions of the queries and of the "
                    "keys alike (self-attention), so it needs as many keys as queries; received "
                    f"attention_scores.shape={tuple(attention_scores.shape)}."
                )
            queries = keys = positions
        bias = poison(self.bias(queries, keys), ok)
        return attention_scores + ops.cast(bias, attention_scores.dtype)

    def bias(self, query_positions, key_positions):
        raise NotImplementedError

    def check_attention(self, num_heads: int, key_dim: int) -> None:
        """Raises `ArgumentError` if this layer cannot serve attention of
        `num_heads` heads of `key_dim` features; called before any data."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
