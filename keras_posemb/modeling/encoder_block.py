"""The encoder block of the text and image classifiers, as a function of
Keras tensors (standard Keras layers around `PositionalAttention`)."""

from __future__ import annotations

from typing import Any

import keras

from keras_posemb._args import check_divisible, check_int, check_number
from keras_posemb.modeling.positional_attention import PositionalAttention


def attention_layer_name(block: int) -> str:
    return f"encoder_block_{block}_attention"


def transformer_encoder_block(
    x: keras.KerasTensor,
    padding_mask: keras.KerasTensor | None,
    num_heads: int,
    ff_dim: int,
    dropout: float = 0.1,
    norm_first: bool = False,
    name: str = "encoder_block",
    position: Any = "none",
) -> keras.KerasTensor:
    """Applies one transformer encoder block to a Keras tensor.

    Multi-head self-attention (`PositionalAttention`) and a two-layer ReLU
    feed-forward network, each with dropout, a residual connection and layer
    normalization: after the residual (post-norm, as in Vaswani et al.) or
    before each sub-layer (pre-norm, `norm_first=True`). Attention never
    looks at padded positions, so the outputs at real positions do not
    depend on them.

    Args:
        x: Keras tensor `(batch, sequence, width)`.
        padding_mask: boolean Keras tensor `(batch, sequence)`, `True` at
            real tokens (see `PaddingMask`), or `None` for no padding.
        num_heads: number of attention heads; must divide `width`.
        ff_dim: hidden width of the feed-forward network.
        dropout: dropout rate after attention, inside and after the
            feed-forward network.
        norm_first: pre-norm instead of post-norm.
        name: prefix of the block's layer names.
        position: what `PositionalAttention` takes: the name of an
            "attention" family of `keras_posemb.families` (`"rotary"`,
            `"alibi"`, `"t5"`, ...), a position layer, or `"none"`.

    Returns:
        Keras tensor of the same shape as `x`.

    Example:

    ```python
    mask = keras_posemb.modeling.PaddingMask()(token_ids)
    x = keras.layers.Embedding(1000, 64)(token_ids)
    x = keras_posemb.SinusoidalEncoding()(x)
    x = transformer_encoder_block(x, mask, num_heads=4, ff_dim=128)
    ```
    """
    width = x.shape[-1]
    check_divisible("num_heads", num_heads, "embed_dim", width)
    check_int("ff_dim", ff_dim)
    check_number("dropout", dropout, 0, 1, high_open=True)

    def norm(part):
        return keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_{part}_norm")

    def sublayer(x, part, apply):
        if norm_first:
            return keras.layers.Add(name=f"{name}_{part}_residual")([x, apply(norm(part)(x))])
        return norm(part)(keras.layers.Add(name=f"{name}_{part}_residual")([x, apply(x)]))

    def attention(y):
        y = PositionalAttention(
            num_heads, width // num_heads, position, dropout=dropout, name=f"{name}_attention"
        )(y, padding_mask=padding_mask)
        return keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(y)

    def feed_forward(y):
        y = keras.layers.Dense(ff_dim, activation="relu", name=f"{name}_ff_hidden")(y)
        y = keras.layers.Dropout(dropout, name=f"{name}_ff_hidden_dropout")(y)
        y = keras.layers.Dense(width, name=f"{name}_ff_output")(y)
        return keras.layers.Dropout(dropout, name=f"{name}_ff_dropout")(y)

    return sublayer(sublayer(x, "attention", attention), "ff", feed_forward)
