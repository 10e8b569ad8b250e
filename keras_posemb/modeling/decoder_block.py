from __future__ import annotations

from typing import Any

import keras

from keras_posemb._args import check_divisible, check_int, check_number
from keras_posemb.modeling.positional_attention import PositionalAttention


@keras.saving.register_keras_serializable(package="keras_posemb")
class DecoderBlock(keras.layers.Layer):
    """One pre-norm causal transformer decoder block (GPT-2 style).

    `x + attention(norm(x))`, then `x + feed_forward(norm(x))`: causal
    `PositionalAttention` and a two-layer GELU network, each followed by
    dropout. Pre-norm keeps the residual path an identity, which is what
    lets decoders train without a warm-up at this size (post-norm is the
    encoder classifier's default, after Vaswani et al.).

    Args:
        num_heads: positive int, attention heads; must divide the width of
            the inputs.
        ff_dim: positive int, hidden width of the feed-forward network.
        position: what `PositionalAttention` takes: `"none"`, an attention
            family name (`"rotary"`, `"alibi"`, `"t5"`, ...) or a position
            layer. Defaults to `"none"`.
        dropout: dropout rate after attention and in the feed-forward
            network, in `[0, 1)`. Defaults to `0`.
        kernel_initializer: initializer of every projection. Defaults to
            `RandomNormal(stddev=0.02)`, GPT-2's.
        attention_block_size: `None`, `"auto"`, or attend in blocks of this
            many tokens with memory linear in the length
            (`PositionalAttention`).
            Defaults to `None`.
        sliding_window: `None`, or each token sees the last
            `sliding_window` tokens only (`PositionalAttention`). Defaults
            to `None`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, sequence, width)`.
        training: whether dropout applies.
        cache: optional `(batch, 2, cache_length, heads, key_dim)` keys and
            values of the tokens so far (`PositionalAttention.empty_cache`).
        cache_update_index: with `cache`, the position of the first token of
            `inputs`.
        cache_sinks: with `cache`, `None` or the sinks of a rolling cache
            (`PositionalAttention`).

    Returns:
        `(batch, sequence, width)`; with `cache`, `(outputs, updated cache)`.

    Example:

    ```python
    block = keras_posemb.modeling.DecoderBlock(num_heads=4, ff_dim=512, position="rotary")
    y = block(x)  # (batch, sequence, 128)
    cache = block.attention.empty_cache(batch_size=1, cache_length=64)
    y, cache = block(x[:, :1], cache=cache, cache_update_index=0)
    ```

    References:
        - [Radford et al., 2019 (GPT-2)](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf)
    """

    def __init__(
        self,
        num_heads: int,
        ff_dim: int,
        position: Any = "none",
        dropout: float = 0.0,
        kernel_initializer: Any = None,
        attention_block_size: int | None = None,
        sliding_window: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads)
        self.ff_dim = check_int("ff_dim", ff_dim)
        self.dropout = check_number("dropout", dropout, 0, 1, high_open=True)
        if isinstance(position, dict):
            # A position layer from a config is made here, as the one given
            # to the builder was: tracked first, so that a loaded block's
            # variables (and an optimizer's slots for them) come in the
            # order they were saved in.
            position = keras.saving.deserialize_keras_object(position)
        self.position = position
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.02)
        )
        self.attention_block_size = attention_block_size
        self.sliding_window = sliding_window
        self.attention = None

    def build(self, input_shape):
        width = input_shape[-1]
        if len(input_shape) != 3 or width is None:
            raise ValueError(
                f"DecoderBlock {self.name!r} expects `inputs` of shape (batch, sequence, width) "
                f"with a known width; received inputs.shape={tuple(input_shape)}."
            )
        check_divisible("num_heads", self.num_heads, "width", width)

        def dense(units, name, activation=None):
            return keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        def norm(name):
            return keras.layers.LayerNormalization(epsilon=1e-5, dtype=self.dtype_policy, name=name)

        self.attention_norm = norm("attention_norm")
        self.attention = PositionalAttention(
            self.num_heads,
            width // self.num_heads,
            self.position,
            dropout=0.0,
            bidirectional=False,
            kernel_initializer=self.kernel_initializer,
            attention_block_size=self.attention_block_size,
            sliding_window=self.sliding_window,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.ff_norm = norm("ff_norm")
        self.ff_hidden = dense(self.ff_dim, "ff_hidden", "gelu")
        self.ff_output = dense(width, "ff_output")
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        for layer in (self.attention_norm, self.attention, self.ff_norm, self.ff_hidden):
            layer.build(input_shape)
        self.ff_output.build((*input_shape[:-1], self.ff_dim))

    def call(self, inputs, training=None, cache=None, cache_update_index=None, cache_sinks=None):
        y = self.attention_norm(inputs)
        if cache is None and cache_update_index is None:
            y = self.attention(y, training=training)
        else:
            y, cache = self.attention(
                y, training=training, cache=cache, cache_update_index=cache_update_index,
                cache_sinks=cache_sinks,
            )  # fmt: skip
        x = inputs + self.dropout_layer(y, training=training)
        y = self.ff_output(self.ff_hidden(self.ff_norm(x)))
        x = x + self.dropout_layer(y, training=training)
        return x if cache is None else (x, cache)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        position = self.position
        if not isinstance(position, str):
            position = keras.saving.serialize_keras_object(position)
        config.update(
            {
                "num_heads": self.num_heads,
                "ff_dim": self.ff_dim,
                "position": position,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "attention_block_size": self.attention_block_size,
                "sliding_window": self.sliding_window,
            }
        )
        return config
