from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_bool, check_number
from keras_posemb.layers._attention_bias import (
    AttentionBias,
    masked_after_the_query,
    with_call_arguments,
)
from keras_posemb.layers.alibi_bias import alibi_slopes


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_call_arguments
class KerpleBias(AttentionBias):
    """KERPLE (logarithmic variant): a learned log-distance penalty per head.

    Adds `bias[h, i, j] = -r1_h * log(1 + r2_h * |i - j|)` to the score of
    query `i` and key `j`, with positive `r1_h` and `r2_h` learned per head
    (Chi et al., 2022, the "log" kernel). Near the query the penalty is
    about `r1 r2 |i - j|`, ALiBi's line; far away it grows like a
    logarithm, so distant keys stay reachable. Like ALiBi it depends on the
    distance only, so a model runs on sequences longer than it was trained
    on.

    The causal form (`bidirectional=False`) masks keys after the query
    (-1e9). The bidirectional form learns a separate `(r1, r2)` for keys
    after the query than for keys at or before it, so an encoder can tell
    "the dog chased the cat" from its mirror image. Both are kept positive
    by learning their logarithms (the weights `log_r1`, `log_r2`, of shape
    `(directions, heads)`): a penalty never turns into a reward, and no
    clipping stops a weight's gradient. They start at `r1 = 1` and `r2` =
    ALiBi's slopes, so the layer starts as ALiBi near each query, heads of
    different reach included. The bias is computed in float32 and rounded
    once to the scores' dtype.

    Args:
        bidirectional: `True` for encoders (a pair of weights per
            direction), `False` for causal attention. Defaults to `True`.
        alibi_bias_max: positive finite number: the initial `r2` are
            `alibi_slopes(num_heads, alibi_bias_max)`. Defaults to `8`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    {call_arguments}

    Example:

    ```python
    scores = keras.ops.einsum("bqhd,bkhd->bhqk", query, key) / 8.0
    scores = keras_posemb.KerpleBias(bidirectional=False)(scores)
    ```

    References:
        - [Chi et al., 2022](https://arxiv.org/abs/2205.09921), section 3
          (the logarithmic variant)
    """

    def __init__(self, bidirectional: bool = True, alibi_bias_max: float = 8, **kwargs):
        super().__init__(**kwargs)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.alibi_bias_max = check_number("alibi_bias_max", alibi_bias_max, low=0, low_open=True)

    def build(self, input_shape):
        super().build(input_shape)
        directions = 2 if self.bidirectional else 1
        slopes = np.tile(alibi_slopes(self.num_heads, self.alibi_bias_max), (directions, 1))
        self.log_r1 = self.add_weight(
            name="log_r1", shape=(directions, self.num_heads), initializer="zeros"
        )
        self.log_r2 = self.add_weight(
            name="log_r2",
            shape=(directions, self.num_heads),
            initializer=keras.initializers.Constant(np.log(slopes)),
        )

    def bias(self, query_positions, key_positions):
        # (..., query, key) offsets -> (..., 1, query, key): one row of heads to come.
        offset = ops.expand_dims(
            ops.expand_dims(query_positions, -1) - ops.expand_dims(key_positions, -2), -3
        )
        distance = ops.cast(ops.abs(offset), "float32")

        def penalty(direction):
            r1, r2 = (
                ops.reshape(ops.exp(ops.cast(w[direction], "float32")), (-1, 1, 1))
                for w in (self.log_r1, self.log_r2)
            )
            return -r1 * ops.log1p(r2 * distance)

        if not self.bidirectional:
            return masked_after_the_query(penalty(0), query_positions, key_positions)
        return ops.where(offset >= 0, penalty(0), penalty(1))

    def get_config(self):
        config = super().get_config()
        config.update({"bidirectional": self.bidirectional, "alibi_bias_max": self.alibi_bias_max})
        return config
