from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_posemb._args import check_choice, check_int, check_number
from keras_posemb.layers._attention_bias import MASKED_LOGIT
from keras_posemb.layers.alibi_bias import AlibiBias
from keras_posemb.layers.relative_position_bias import RelativePositionBias
from keras_posemb.layers.rotary_embedding import RotaryEmbedding

RELATIVE_POSITIONS = ("none", "rotary", "alibi", "t5")


@keras.saving.register_keras_serializable(package="keras_posemb")
class PositionalAttention(keras.layers.Layer):
    """Multi-head self-attention that sees relative positions.

    The attention of `keras.layers.MultiHeadAttention`, with position
    information inside it: `position="rotary"` rotates queries and keys
    (`RotaryEmbedding`), `"alibi"` adds a distance penalty per head to the
    logits (`AlibiBias`), `"t5"` adds a learned bias per head and offset
    bucket (`RelativePositionBias`, one table per layer), and `"none"` is
    plain attention. Logits and softmax are computed in float32, also under
    mixed precision. Padded keys get no weight at all, so outputs at real
    tokens do not depend on padding.

    Args:
        num_heads: positive int, attention heads.
        key_dim: positive int, size of each head's queries and keys (and
            values); even for `"rotary"`.
        position: `"none"`, `"rotary"`, `"alibi"` or `"t5"`.
        dropout: dropout rate on the attention weights, in `[0, 1)`.
        max_wavelength: for `"rotary"`, as in `RotaryEmbedding`.
        alibi_bias_max: for `"alibi"`, as in `AlibiBias`.
        alibi_split_heads: for bidirectional `"alibi"`: half of the heads
            look only left and half only right (`AlibiBias(split_heads=True)`),
            so that the model can tell before from after; needs an even
            `num_heads`. Defaults to `True`: with `-m |i - j|` alone the
            classifier stays at chance on the built-in data set.
        num_buckets, max_distance: for `"t5"`, as in `RelativePositionBias`.
        bidirectional: `False` for causal attention: keys after the query
            are masked, and the ALiBi and T5 biases take their causal form.
        kernel_initializer: initializer of the four projections.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, sequence, features)`.
        padding_mask: optional boolean tensor `(batch, sequence)`, `True` at
            real tokens. Defaults to the mask Keras attached to `inputs`.
        attention_mask: optional boolean tensor `(batch, sequence,
            sequence)`, `True` where query `i` may attend to key `j`.
        training: whether dropout applies.

    Example:

    ```python
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(token_ids)
    x = x + keras_posemb.PositionalAttention(4, 32, position="alibi")(x)
    ```
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        position: str = "none",
        dropout: float = 0.0,
        max_wavelength: float = 10000,
        alibi_bias_max: float = 8,
        alibi_split_heads: bool = True,
        num_buckets: int = 32,
        max_distance: int = 128,
        bidirectional: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads)
        self.key_dim = check_int("key_dim", key_dim)
        self.position = check_choice("position", position, RELATIVE_POSITIONS)
        self.dropout = check_number("dropout", dropout, 0, 1, high_open=True)
        self.max_wavelength = max_wavelength
        self.alibi_bias_max = alibi_bias_max
        self.alibi_split_heads = alibi_split_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # Made now, so that their arguments are checked now.
        self.rotary = self.bias = None
        if position == "rotary":
            if key_dim % 2:
                raise ValueError(
                    "Argument `key_dim` must be even for position='rotary' (features rotate "
                    f"in pairs); received key_dim={key_dim}."
                )
            self.rotary = RotaryEmbedding(max_wavelength, dtype=self.dtype_policy, name="rotary")
        elif position == "alibi":
            if alibi_split_heads and bidirectional and num_heads % 2:
                raise ValueError(
                    "Argument `num_heads` must be even for position='alibi' with "
                    f"alibi_split_heads=True (half look left, half right); received num_heads={num_heads}."
                )
            # float32 like the logits it is added to, also under mixed precision.
            self.bias = AlibiBias(
                alibi_bias_max, bidirectional, alibi_split_heads and bidirectional,
                dtype="float32", name="alibi_bias",
            )  # fmt: skip
        elif position == "t5":
            self.bias = RelativePositionBias(
                num_heads, num_buckets, max_distance, bidirectional, dtype="float32",
                name="relative_position_bias",
            )  # fmt: skip
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="attention_dropout")
        self.supports_masking = True

    def _projection(self, name, equation, output_shape, bias_axes):
        dense = keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )
        # A (batch, sequence) padding mask holds for its outputs too; this
        # layer applies it itself.
        dense.supports_masking = True
        return dense

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"PositionalAttention {self.name!r} expects `inputs` of shape (batch, sequence, "
                f"features) with known features; received inputs.shape={tuple(input_shape)}."
            )
        width = input_shape[-1]
        heads = (None, self.num_heads, self.key_dim)
        self.query_dense = self._projection("query", "btf,fhd->bthd", heads, "hd")
        self.key_dense = self._projection("key", "btf,fhd->bthd", heads, "hd")
        self.value_dense = self._projection("value", "btf,fhd->bthd", heads, "hd")
        self.output_dense = self._projection(
            "attention_output", "bthd,hdf->btf", (None, width), "f"
        )
        for layer in (self.query_dense, self.key_dense, self.value_dense):
            layer.build(input_shape)
        self.output_dense.build((None, None, self.num_heads, self.key_dim))
        if self.rotary is not None:
            self.rotary.build((None, None, self.num_heads, self.key_dim))
        if self.bias is not None:
            self.bias.build((None, self.num_heads, None, None))

    def _key_mask(self, inputs, padding_mask, attention_mask, mask):
        """Boolean `(batch, query, key)` of the keys each query may see, or `None`."""
        padding_mask = mask if padding_mask is None else padding_mask
        allowed = None
        if padding_mask is not None:
            allowed = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            allowed = (
                attention_mask if allowed is None else ops.logical_and(allowed, attention_mask)
            )
        if not self.bidirectional:
            length = ops.shape(inputs)[1]
            causal = ops.greater_equal(
                ops.expand_dims(ops.arange(length), 1), ops.expand_dims(ops.arange(length), 0)
            )
            causal = ops.expand_dims(causal, 0)
            allowed = causal if allowed is None else ops.logical_and(allowed, causal)
        return allowed

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None, mask=None):
        query = self.query_dense(inputs)
        key = self.key_dense(inputs)
        value = self.value_dense(inputs)
        if self.rotary is not None:
            query, key = self.rotary(query), self.rotary(key)
        scale = 1.0 / math.sqrt(self.key_dim)
        scores = ops.einsum("bqhd,bkhd->bhqk", ops.cast(query, "float32"), ops.cast(key, "float32"))
        scores = scores * scale
        if self.bias is not None:
            scores = self.bias(scores)
        allowed = self._key_mask(inputs, padding_mask, attention_mask, mask)
        if allowed is not None:
            scores = ops.where(ops.expand_dims(allowed, 1), scores, MASKED_LOGIT)
        weights = ops.softmax(scores, axis=-1)
        weights = self.dropout_layer(weights, training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", ops.cast(weights, value.dtype), value)
        return self.output_dense(context)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "position": self.position,
                "dropout": self.dropout,
                "max_wavelength": self.max_wavelength,
                "alibi_bias_max": self.alibi_bias_max,
                "alibi_split_heads": self.alibi_split_heads,
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
                "bidirectional": self.bidirectional,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
