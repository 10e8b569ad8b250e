from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_bool, check_number
from keras_posemb.errors import argument_error
from keras_posemb.layers._attention_bias import (
    MASKED_LOGIT,
    AttentionBias,
    masked_after_the_query,
    with_call_arguments,
)


def alibi_slopes(num_heads: int, alibi_bias_max: float = 8) -> np.ndarray:
    """The slope of each head, float64 (Press et al., 2022, section 3).

    For a power-of-two head count `n`, head `h` gets
    `2^(-alibi_bias_max * (h + 1) / n)`: a geometric sequence from
    `2^(-alibi_bias_max / n)` to `2^-alibi_bias_max`. Otherwise the slopes of
    the closest smaller power of two come first, followed by every other
    slope of twice that count, as in the paper's code.
    """
    closest = 2 ** math.floor(math.log2(num_heads))

    def geometric(count):
        return 2.0 ** (-alibi_bias_max * np.arange(1, count + 1) / count)

    slopes = geometric(closest)
    if closest < num_heads:
        slopes = np.concatenate([slopes, geometric(2 * closest)[0::2][: num_heads - closest]])
    return slopes


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_call_arguments
class AlibiBias(AttentionBias):
    """ALiBi: a linear penalty on attention logits, by distance, per head.

    Adds `bias[h, i, j] = -m_h * |i - j|` to the scores of query `i` and key
    `j` (the bidirectional form, for encoders), or the causal form
    `-m_h * (i - j)`, which masks keys after the query itself (-1e9): the
    layer used alone on scores is causal, and inside `PositionalAttention`
    (which masks them too when `bidirectional=False`) nothing changes. Each head
    `h` has its own slope `m_h` (`alibi_slopes`): steep heads attend
    locally, shallow ones far. The bias depends on the distance only, so a
    model trained on short sequences can run on longer ones ("Train Short,
    Test Long").

    `-m |i - j|` tells how far a key is, not on which side: "the dog chased
    the cat" and its mirror image get the same biases, and on the built-in
    data set, where the label depends on which animal comes before the
    verb, an encoder with this form stays at chance. `split_heads=True`
    gives direction back, as Press suggests for encoders: the first half of
    the heads see only keys at or before the query, the second half only
    keys at or after it, each half with the slopes of `num_heads / 2`
    heads; keys on the other side get a bias of -1e9 (-inf in float16).
    keras_hub's `AlibiBias` is the causal form only, and with
    `j - (key_length - 1)` it depends on where the key is, not on its
    distance to the query: wrong for an encoder. The layer has no weights;
    the bias is computed in float32 and rounded once to the scores' dtype.

    Args:
        alibi_bias_max: positive finite number, the 8 of the paper: the
            steepest slope is `2^-alibi_bias_max`. Defaults to `8`.
        bidirectional: `True` for `-m |i - j|` (encoders), `False` for the
            causal `-m (i - j)` with later keys masked. Defaults to `True`.
        split_heads: bidirectional form only: half of the heads look left,
            half right (see above); needs an even number of heads.
            Defaults to `False`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    {call_arguments}

    Example:

    ```python
    scores = keras.ops.einsum("bqhd,bkhd->bhqk", query, key) / 8.0
    scores = keras_posemb.AlibiBias()(scores)
    ```

    References:
        - [Press et al., 2022](https://arxiv.org/abs/2108.12409)
        - [ALiBi for encoder attention](https://github.com/ofirpress/attention_with_linear_biases/issues/5)
    """

    def __init__(
        self,
        alibi_bias_max: float = 8,
        bidirectional: bool = True,
        split_heads: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alibi_bias_max = check_number("alibi_bias_max", alibi_bias_max, low=0, low_open=True)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.split_heads = check_bool("split_heads", split_heads)
        if split_heads and not bidirectional:
            raise ValueError(
                "Argument `split_heads` must be False for the causal form (bidirectional=False), "
                "where every key is at or before its query; received split_heads=True."
            )

    def check_attention(self, num_heads, key_dim):
        if self.split_heads and num_heads % 2:
            raise argument_error(
                "num_heads",
                num_heads,
                "even for ALiBi with split heads (half of the heads look left, half right)",
            )

    def build(self, input_shape):
        super().build(input_shape)
        if not self.split_heads:
            self.slopes = alibi_slopes(self.num_heads, self.alibi_bias_max)
            return
        self.check_attention(self.num_heads, None)
        half = alibi_slopes(self.num_heads // 2, self.alibi_bias_max)
        self.slopes = np.concatenate([half, half])

    def bias(self, query_positions, key_positions):
        # (..., query, key) -> (..., 1, query, key): one row of heads to come.
        offset = ops.expand_dims(
            ops.cast(
                ops.expand_dims(query_positions, -1) - ops.expand_dims(key_positions, -2),
                "float32",
            ),
            -3,
        )
        slopes = ops.reshape(ops.convert_to_tensor(self.slopes.astype("float32")), (-1, 1, 1))
        if not self.bidirectional:
            return masked_after_the_query(-slopes * offset, query_positions, key_positions)
        bias = -slopes * ops.abs(offset)
        if self.split_heads:
            looks_left = np.arange(self.num_heads).reshape(-1, 1, 1) < self.num_heads // 2
            other_side = ops.where(looks_left, offset < 0, offset > 0)
            bias = ops.where(other_side, MASKED_LOGIT, bias)  # Masked, as padding is.
        return bias

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alibi_bias_max": self.alibi_bias_max,
                "bidirectional": self.bidirectional,
                "split_heads": self.split_heads,
            }
        )
        return config
