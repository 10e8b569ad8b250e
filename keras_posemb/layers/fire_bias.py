from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_posemb._args import check_bool, check_int, check_number
from keras_posemb.layers._attention_bias import (
    AttentionBias,
    masked_after_the_query,
    with_call_arguments,
)


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_call_arguments
class FireBias(AttentionBias):
    """FIRE: a learned function of the normalized distance, per head.

    Adds to the score of query `i` and key `j` the output, for head `h`, of
    a small MLP (one hidden ReLU layer) applied to the distance normalized
    by the query's position (Li et al., 2023):

        bias[h, i, j] = mlp(psi(i - j) / psi(max(L, i)))[h],
        psi(x) = log(c x + 1).

    `c > 0` and the threshold `L > 0` are learned. Dividing by the query's
    position ("progressive interpolation") maps every distance a query can
    see into `[0, 1]`, whatever the sequence's length, so a model trained on
    short sequences meets no input it never saw on longer ones; `L` keeps
    the first queries, whose distances are all short, from being stretched
    to the whole range. The log makes near distances finer than far ones.

    The causal form (`bidirectional=False`, the paper's) masks keys after
    the query (-1e9). The bidirectional form is this package's extension
    for encoders: the MLP's input carries the direction,
    `sign(i - j) psi(|i - j|) / psi(max(L, i, j))`, in `[-1, 1]`.
    `c` and `L` are learned as logarithms (the weights `log_c`,
    `log_threshold`), so both stay positive. The bias is computed in
    float32 and rounded once to the scores' dtype; the MLP's hidden layer
    is `mlp_width` times the size of the logits (the blockwise path
    computes it a block at a time).

    Args:
        threshold: positive number, the initial `L`: the training length
            is a good start. Defaults to `512`.
        c: positive number, the initial `c` of `psi`. Defaults to `0.1`.
        mlp_width: positive int, the MLP's hidden units. Defaults to `32`.
        bidirectional: `True` for encoders (see above), `False` for causal
            attention. Defaults to `True`.
        kernel_initializer: Keras initializer of the MLP's two kernels.
            Defaults to `"glorot_uniform"` (the biases start at zero).
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    {call_arguments}

    Example:

    ```python
    scores = keras.ops.einsum("bqhd,bkhd->bhqk", query, key) / 8.0
    scores = keras_posemb.FireBias(threshold=64, bidirectional=False)(scores)
    ```

    References:
        - [Li et al., 2023](https://arxiv.org/abs/2310.04418), "Functional
          Interpolation for Relative Positions Improves Long Context
          Transformers", section 3
    """

    def __init__(
        self,
        threshold: float = 512,
        c: float = 0.1,
        mlp_width: int = 32,
        bidirectional: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.threshold = check_number("threshold", threshold, low=0, low_open=True)
        self.c = check_number("c", c, low=0, low_open=True)
        self.mlp_width = check_int("mlp_width", mlp_width)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        super().build(input_shape)

        def scalar(name, value):
            return self.add_weight(
                name=name, shape=(), initializer=keras.initializers.Constant(math.log(value))
            )

        self.log_c = scalar("log_c", self.c)
        self.log_threshold = scalar("log_threshold", self.threshold)
        width, heads = self.mlp_width, self.num_heads
        self.hidden_kernel = self.add_weight(
            name="hidden_kernel", shape=(width,), initializer=self.kernel_initializer
        )
        self.hidden_bias = self.add_weight(name="hidden_bias", shape=(width,), initializer="zeros")
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(width, heads), initializer=self.kernel_initializer
        )
        self.output_bias = self.add_weight(name="output_bias", shape=(heads,), initializer="zeros")

    def normalized_distance(self, query_positions, key_positions):
        """The MLP's input `(..., query, key)`, float32."""
        queries = ops.cast(ops.expand_dims(query_positions, -1), "float32")
        keys = ops.cast(ops.expand_dims(key_positions, -2), "float32")
        c = ops.exp(ops.cast(self.log_c, "float32"))
        threshold = ops.exp(ops.cast(self.log_threshold, "float32"))
        offset = queries - keys
        reach = ops.maximum(queries, keys) if self.bidirectional else queries
        scale = ops.log1p(c * ops.maximum(reach, threshold))
        return ops.sign(offset) * ops.log1p(c * ops.abs(offset)) / scale

    def bias(self, query_positions, key_positions):
        x = ops.expand_dims(self.normalized_distance(query_positions, key_positions), -1)
        weights = [
            ops.cast(w, "float32")
            for w in (self.hidden_kernel, self.hidden_bias, self.output_kernel, self.output_bias)
        ]
        hidden = ops.relu(x * weights[0] + weights[1])
        # (..., query, key, width) -> (..., heads, query, key)
        bias = ops.einsum("...qkw,wh->...hqk", hidden, weights[2])
        bias = bias + ops.reshape(weights[3], (-1, 1, 1))
        if not self.bidirectional:
            bias = masked_after_the_query(bias, query_positions, key_positions)
        return bias

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "threshold": self.threshold,
                "c": self.c,
                "mlp_width": self.mlp_width,
                "bidirectional": self.bidirectional,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
