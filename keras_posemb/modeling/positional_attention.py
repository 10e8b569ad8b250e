from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import ops

from keras_posemb import families
from keras_posemb._args import check_bool, check_int, check_number
from keras_posemb.errors import argument_error
from keras_posemb.layers._attention_bias import MASKED_LOGIT
from keras_posemb.layers._positions import check_dense, dtype_name, is_integer
from keras_posemb.layers._range_guard import guard_range, poison
from keras_posemb.modeling.blockwise_attention import blockwise_attention, within

# attention_block_size="auto": blocks of this many tokens for more keys than
# AUTO_BLOCKWISE_FROM, where blockwise attention is also faster on a CPU.
AUTO = "auto"
AUTO_BLOCKWISE_FROM, AUTO_BLOCK_SIZE = 2048, 512

# Family options of the 0.2.0 signature: (family, its layer's argument). Still
# accepted with the short form, and read from `.keras` files of 0.2.0, which
# carry all five whatever the family.
LEGACY_OPTIONS = {
    "max_wavelength": ("rotary", "max_wavelength", 10000),
    "alibi_bias_max": ("alibi", "alibi_bias_max", 8),
    "alibi_split_heads": ("alibi", "split_heads", True),
    "num_buckets": ("t5", "num_buckets", 32),
    "max_distance": ("t5", "max_distance", 128),
}


@keras.saving.register_keras_serializable(package="keras_posemb")
class PositionalAttention(keras.layers.Layer):
    """Multi-head self-attention that sees relative positions.

    The attention of `keras.layers.MultiHeadAttention`, with position
    layers inside: one whose `attention_role` is "queries_and_keys" (such as
    `RotaryEmbedding`) transforms queries and keys, one whose role is
    "logits" (an `AttentionBias`, such as `AlibiBias`) is added to the
    logits. A family name is the short form (`"rotary"`, `"alibi"`, `"t5"`,
    `"none"`, or any registered "attention" family). Logits and softmax are
    float32, also under mixed precision; padded keys get exactly zero
    weight; with `bidirectional=False` this layer masks every key after its
    query, whatever the position layers add.

    With `cache` (causal attention only) the layer decodes step by step: the
    new keys and values are written at `cache_update_index`, the queries
    attend to every cached key up to their own position, and the call
    returns `(outputs, cache)`. With `cache_sinks` the cache rolls instead
    (StreamingLLM): it keeps the first `cache_sinks` tokens and the most
    recent ones, so a sequence may be any number of tokens long.
    docs/decoders.md describes the cache, the fused path and what each
    family passes to it.

    Args:
        num_heads: positive int, attention heads.
        key_dim: positive int, size of each head's queries and keys (and
            values); even for rotary positions.
        position: a position family name (`"none"`, `"rotary"`, `"alibi"`,
            `"t5"` or any registered "attention" family), a position layer,
            or a list of up to two layers of different roles. Layers are
            serialized with this layer, as nested Keras objects.
        dropout: dropout rate on the attention weights, in `[0, 1)`.
        bidirectional: `False` for causal attention: keys after the query
            are masked, and the short forms of ALiBi and T5 are causal.
        kernel_initializer: initializer of the four projections.
        fused: `True` computes attention with
            `keras.ops.dot_product_attention` (the backend's fused kernel;
            flash attention where the backend and device support it)
            whenever no dropout applies; `False` always takes the explicit
            einsum and softmax; `"auto"` is `True` on JAX and PyTorch and
            `False` on TensorFlow, where Keras has no fused kernel and its
            `dot_product_attention` is slower than the explicit path
            (docs/decoders.md has the measurements). Both paths compute in
            float32 and agree to float32 rounding. Defaults to `"auto"`.
        attention_block_size: `None`, a positive int or `"auto"`: attend in
            tiles of this many queries and keys, their softmax combined
            across blocks (`modeling.blockwise_attention`), recomputed in
            the backward pass, so that memory grows linearly with the length
            instead of with its square; taken whenever no dropout applies
            (before `fused`). Equal to the explicit path to float32
            rounding. `"auto"` takes blocks of `AUTO_BLOCK_SIZE` for more
            than `AUTO_BLOCKWISE_FROM` keys, where they are also faster on
            a CPU (docs/decoders.md has the measurements), and all logits
            at once below. Defaults to `None` (all logits at once).
        sliding_window: `None`, or a positive int `W`: each query sees only
            the keys less than `W` positions away; with `bidirectional=False`
            the last `W` keys, itself included (Mistral's sliding window).
            Honoured by every path and every family. Defaults to `None`.
        **kwargs: other keyword arguments of `keras.layers.Layer`; with a
            family name, also the options of 0.2.0 (`max_wavelength`,
            `alibi_bias_max`, `alibi_split_heads`, `num_buckets`,
            `max_distance`), passed to that family's layer.

    Call arguments:
        inputs: float tensor `(batch, sequence, features)`.
        padding_mask: optional boolean tensor `(batch, sequence)`, `True` at
            real tokens. Defaults to the mask Keras attached to `inputs`.
        attention_mask: optional boolean tensor `(batch, sequence,
            sequence)`, `True` where query `i` may attend to key `j`.
        training: whether dropout applies.
        cache: optional float tensor `(batch, 2, cache_length, heads,
            key_dim)`, keys then values; needs `bidirectional=False` and no
            masks (the cache's positions are its mask).
        cache_update_index: with `cache`, a non-negative int or scalar
            integer tensor: the position of `inputs`' first token. The new
            tokens must fit: `cache_update_index + sequence <= cache_length`
            (without `cache_sinks`).
        cache_sinks: `None` (the cache holds every token), or an int `S`
            in `[0, cache_length)`: a rolling cache of the first `S` tokens
            (the attention sinks) and the last `cache_length - S`. Keys are
            cached before rotation, and every family sees the positions
            inside the cache (`0 .. cache_length - 1`), as StreamingLLM
            does, so they never exceed the cache's length. A call of more
            than one token must fit the cache without rolling: later tokens
            come one at a time. With `S = 0` it is a sliding window of
            `cache_length` tokens.

    Returns:
        The outputs `(batch, sequence, features)`; with `cache`, the tuple
        `(outputs, updated cache)`.

    Example:

    ```python
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(token_ids)
    x = x + keras_posemb.PositionalAttention(4, 32, position="alibi")(x)
    rotary = keras_posemb.RotaryEmbedding(max_wavelength=500)
    x = x + keras_posemb.PositionalAttention(4, 32, position=rotary)(x)
    ```
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        position: Any = "none",
        dropout: float = 0.0,
        bidirectional: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        fused: bool | str = "auto",
        attention_block_size: int | None = None,
        sliding_window: int | None = None,
        **kwargs,
    ):
        options = {name: kwargs.pop(name) for name in LEGACY_OPTIONS if name in kwargs}
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads)
        self.key_dim = check_int("key_dim", key_dim)
        self.dropout = check_number("dropout", dropout, 0, 1, high_open=True)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.fused = fused if fused == "auto" else check_bool("fused", fused)
        self.attention_block_size = check_block_size(attention_block_size)
        self.sliding_window = _optional_int("sliding_window", sliding_window)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # Attribute names as in 0.2.0: a T5 table saved then loads into `bias`.
        self.rotary = self.bias = None
        for layer in self._position_layers(position, options):
            families.check_attention_position(layer, num_heads, key_dim)
            role = "bias" if layer.attention_role == "logits" else "rotary"
            if getattr(self, role) is not None:
                raise argument_error(
                    "position", position, "at most one position layer of each attention_role"
                )
            setattr(self, role, layer)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self.supports_masking = True

    def __call__(self, inputs, *args, **kwargs):
        check_dense(inputs, f"PositionalAttention {self.name!r}")
        return super().__call__(inputs, *args, **kwargs)

    @property
    def position_layers(self) -> list:
        """The position layers inside: queries and keys first, then logits."""
        return [layer for layer in (self.rotary, self.bias) if layer is not None]

    def _position_layers(self, position, options):
        if not isinstance(position, str):
            for name, value in options.items():
                raise argument_error(name, value, "given with a family name only")
            layers = position if isinstance(position, (list, tuple)) else [position]
            # Dicts are nested layers in a config.
            return [
                keras.saving.deserialize_keras_object(layer) if isinstance(layer, dict) else layer
                for layer in layers
            ]
        family = families.get(position)
        if family.where == "none":
            return []
        if family.grid:
            raise argument_error(
                "position",
                position,
                "a layer for a grid family, such as RotaryEmbedding2D(grid_size=(rows, cols)): "
                "a family name carries no grid",
            )
        if family.where != "attention":
            raise argument_error(
                "position",
                position,
                "a family that works inside attention (this one is added to the token "
                "embeddings, before the attention layers)",
            )
        settings = families.PositionSettings(
            self.num_heads * self.key_dim, self.num_heads, bidirectional=self.bidirectional
        )
        return [family.make_layer(settings, **_family_options(position, options))]

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
        # A layer given built (or rebuilt from a config) keeps its state.
        if self.rotary is not None and not self.rotary.built:
            self.rotary.build((None, None, self.num_heads, self.key_dim))
        if self.bias is not None and not self.bias.built:
            self.bias.build((None, self.num_heads, None, None))

    def _check_mask(self, name, mask, inputs):
        """Refuses a mask whose rank or known sizes do not fit `inputs`: a
        `(batch, sequence)` mask given as `attention_mask` would broadcast
        onto the heads, silently wrong."""
        if mask is None:
            return
        batch, length = tuple(inputs.shape)[:2]
        if name == "attention_mask":
            layout, expected = "(batch, sequence, sequence)", (batch, length, length)
        else:
            layout, expected = "(batch, sequence)", (batch, length)
        shape = tuple(mask.shape)
        fits = len(shape) == len(expected) and all(
            got is None or want is None or got == want for got, want in zip(shape, expected)
        )
        if not fits:
            raise ValueError(
                f"PositionalAttention {self.name!r}: `{name}` must have shape {layout} = "
                f"{expected} for inputs.shape={tuple(inputs.shape)}; received {name}.shape={shape}."
            )

    def _key_mask(self, inputs, padding_mask, attention_mask, mask):
        """Boolean `(batch, query or 1, key)` of the keys each query may see
        by the masks given, or `None`; the paths add the positional mask
        (`_near`), the blockwise one tile by tile."""
        for name, value in [
            ("padding_mask", padding_mask),
            ("attention_mask", attention_mask),
            ("mask", mask),
        ]:
            self._check_mask(name, value, inputs)
        padding_mask = mask if padding_mask is None else padding_mask
        allowed = None
        if padding_mask is not None:
            allowed = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            allowed = (
                attention_mask if allowed is None else ops.logical_and(allowed, attention_mask)
            )
        return allowed

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        mask=None,
        cache=None,
        cache_update_index=None,
        cache_sinks=None,
    ):
        if cache is not None or cache_update_index is not None:
            masks = {"padding_mask": padding_mask, "attention_mask": attention_mask, "mask": mask}
            start = self._check_cache(inputs, cache, cache_update_index, masks)
            if cache_sinks is None:
                return self._call_with_cache(inputs, cache, start, training)
            return self._call_with_rolling_cache(inputs, cache, start, cache_sinks, training)
        if cache_sinks is not None:
            raise ValueError(
                f"PositionalAttention {self.name!r}: `cache_sinks` is for a `cache`; received "
                f"cache_sinks={cache_sinks!r} without one."
            )
        query, key, value = self._project(inputs)
        allowed = self._key_mask(inputs, padding_mask, attention_mask, mask)
        return self._attend(query, key, value, allowed, training)

    def _project(self, inputs, start_index=0, sequence_length=None, rotate=True):
        """Queries, keys and values `(batch, sequence, heads, key_dim)`, rotated
        at positions `start_index ..` when there is a rotary layer and
        `rotate`; `sequence_length` is for rotary scalings that depend on it."""
        query = self.query_dense(inputs)
        key = self.key_dense(inputs)
        value = self.value_dense(inputs)
        if self.rotary is not None and rotate:
            query = self._rotate(query, start_index, sequence_length)
            key = self._rotate(key, start_index, sequence_length)
        return query, key, value

    def _rotate(self, x, start_index, sequence_length):
        lengths = {} if sequence_length is None else {"sequence_length": sequence_length}
        if not getattr(self.rotary, "reads_sequence_length", False):
            lengths = {}  # Other layers need not take the argument.
        return self.rotary(x, start_index=start_index, **lengths)

    def _attend(self, query, key, value, allowed, training, start_index=0):
        """Attention of queries at positions `start_index ..` to keys at `0 ..`;
        `allowed` is a boolean `(batch or 1, query or 1, key)` or `None`, to
        which each path adds the positional mask (`_near`: causal, window)."""
        no_dropout = self.dropout == 0 or not training
        arguments = (query, key, value, allowed, start_index)

        def at_once():
            if self._fused_here() and no_dropout:
                return self._fused_attention(*arguments)
            return self._explicit_attention(query, key, value, allowed, training, start_index)

        def blockwise(block_size):
            return lambda: self._blockwise_attention(*arguments, block_size)

        block_size, keys = self.attention_block_size, key.shape[1]
        if not no_dropout or block_size is None:
            context = at_once()
        elif block_size != AUTO:
            context = blockwise(block_size)()
        elif keys is None:  # A graph traced for any length: chosen as it runs.
            longer = ops.greater(ops.shape(key)[1], AUTO_BLOCKWISE_FROM)
            context = ops.cond(longer, blockwise(AUTO_BLOCK_SIZE), at_once)
        else:
            context = blockwise(AUTO_BLOCK_SIZE)() if keys > AUTO_BLOCKWISE_FROM else at_once()
        return self.output_dense(ops.cast(context, value.dtype))

    def _fused_here(self) -> bool:
        if self.fused == "auto":
            return keras.backend.backend() != "tensorflow"
        return self.fused

    def _explicit_attention(self, query, key, value, allowed, training, start_index):
        scale = 1.0 / math.sqrt(self.key_dim)
        scores = ops.einsum("bqhd,bkhd->bhqk", ops.cast(query, "float32"), ops.cast(key, "float32"))
        scores = scores * scale
        if self.bias is not None:
            scores = self.bias(scores, start_index=start_index)
        allowed = self._and_near(allowed, query, key, start_index)
        if allowed is not None:
            scores = ops.where(ops.expand_dims(allowed, 1), scores, MASKED_LOGIT)
        if scores.shape[-1] == 1:  # One key gets all the weight (Keras warns of that softmax).
            weights = ops.ones_like(scores)
        else:
            weights = ops.softmax(scores, axis=-1)
        weights = self.dropout_layer(weights, training=training)
        return ops.einsum("bhqk,bkhd->bqhd", ops.cast(weights, value.dtype), value)

    def _blockwise_attention(self, query, key, value, allowed, start_index, block_size):
        query, key, value = (ops.cast(x, "float32") for x in (query, key, value))
        return blockwise_attention(
            query, key, value, block_size, 1.0 / math.sqrt(self.key_dim),
            bias=None if self.bias is None else self.bias.bias,
            bias_variables=() if self.bias is None else self.bias.variables,
            allowed=allowed, causal=not self.bidirectional, window=self.sliding_window,
            start_index=start_index,
        )  # fmt: skip

    def _fused_attention(self, query, key, value, allowed, start_index):
        query, key, value = (ops.cast(x, "float32") for x in (query, key, value))
        causal_only = allowed is None and not self.bidirectional and self.sliding_window is None
        if not causal_only or self.bias is not None:  # Else the op's `is_causal` masks.
            allowed = self._and_near(allowed, query, key, start_index)
        bias = mask = None
        if self.bias is not None:
            shape = (1, self.num_heads, ops.shape(query)[1], ops.shape(key)[1])
            bias = self.bias(ops.zeros(shape, "float32"), start_index=start_index)
            if allowed is not None:  # One of bias and mask: masked keys join the bias.
                bias = ops.where(ops.expand_dims(allowed, 1), bias, MASKED_LOGIT)
        elif allowed is not None:
            mask = ops.expand_dims(allowed, 1)
        return ops.dot_product_attention(
            query,
            key,
            value,
            bias=bias,
            mask=mask,
            scale=1.0 / math.sqrt(self.key_dim),
            is_causal=causal_only and self.bias is None,
        )

    def _near(self, query_length, key_length, start_index=0):
        """`(1, query, key)`: whether key `j` is at or before query
        `start_index + i` (when causal) and inside the sliding window; `None`
        when every key is."""
        queries = ops.arange(query_length, dtype="int32") + start_index
        keys = ops.arange(key_length, dtype="int32")
        near = within(queries, keys, not self.bidirectional, self.sliding_window)
        return None if near is None else ops.expand_dims(near, 0)

    def _and_near(self, allowed, query, key, start_index):
        """`allowed` and the positional mask, for `query` and `key`."""
        near = self._near(ops.shape(query)[1], ops.shape(key)[1], start_index)
        if allowed is None or near is None:
            return near if allowed is None else allowed
        return ops.logical_and(allowed, near)

    def empty_cache(self, batch_size: int, cache_length: int, dtype: str | None = None):
        """Zeros `(batch_size, 2, cache_length, num_heads, key_dim)`: the
        `cache` of a sequence with no tokens yet, in the compute dtype."""
        check_int("batch_size", batch_size)
        check_int("cache_length", cache_length)
        shape = (batch_size, 2, cache_length, self.num_heads, self.key_dim)
        return ops.zeros(shape, dtype or self.compute_dtype)

    def _call_with_cache(self, inputs, cache, start, training):
        length, cache_length = ops.shape(inputs)[1], cache.shape[2]
        # Writes past the end would be clamped (XLA's dynamic_update_slice):
        # refused, or NaN where nothing can raise.
        start, ok = guard_range(
            start,
            start,
            start + length - 1,
            0,
            cache_length,
            f"PositionalAttention {self.name!r}: the new tokens' positions "
            "(cache_update_index .. cache_update_index + sequence - 1) must lie in "
            f"[0, {cache_length}) (the cache's length); received positions {{low}} .. {{high}}.",
        )
        query, key, value = self._project(inputs, start, sequence_length=cache_length)
        at = [0, start, 0, 0]
        keys = ops.slice_update(cache[:, 0], at, ops.cast(key, cache.dtype))
        values = ops.slice_update(cache[:, 1], at, ops.cast(value, cache.dtype))
        # Each new query sees the cached keys at or before its own position
        # (`is_causal` of the fused op would align the queries with key 0).
        allowed = self._near(length, cache_length, start)
        outputs = self._attend(query, keys, values, allowed, training, start_index=start)
        return poison(outputs, ok), ops.stack([keys, values], axis=1)

    def _call_with_rolling_cache(self, inputs, cache, start, sinks, training):
        """The cache keeps its first `sinks` slots and rolls the rest: the
        kept tokens, then the new ones, in order, with the oldest after the
        sinks dropped when they do not fit."""
        length, cache_length = inputs.shape[1], cache.shape[2]
        check_int("cache_sinks", sinks, minimum=0)
        if sinks >= cache_length:
            raise argument_error(
                "cache_sinks", sinks, f"less than the cache's length {cache_length}, leaving "
                "room for the most recent tokens",
            )  # fmt: skip
        ok = None
        if length != 1:  # Rolls one token at a time, so that each query sees S + W keys.
            start, ok = guard_range(
                start, start, start + ops.shape(inputs)[1] - 1, 0, cache_length,
                f"PositionalAttention {self.name!r}: a call of more than one token must fit "
                f"the rolling cache without rolling (positions < {cache_length}); feed later "
                "tokens one at a time; received positions {low} .. {high}.",
            )  # fmt: skip
        query, key, value = self._project(inputs, rotate=False)
        kept = ops.minimum(start, cache_length)  # Slots that hold tokens.
        first = ops.minimum(start, cache_length - ops.shape(inputs)[1])  # Slot of the first query.
        order = _rolled_slots(cache_length, sinks, kept, first, ops.shape(inputs)[1])
        keys, values = (
            ops.take(ops.concatenate([cache[:, i], ops.cast(x, cache.dtype)], axis=1), order, 1)
            for i, x in ((0, key), (1, value))
        )  # fmt: skip
        if self.rotary is not None:  # At their slots: positions inside the cache.
            query = self._rotate(query, first, cache_length)
            rotated = self._rotate(keys, 0, cache_length)
        else:
            rotated = keys
        allowed = self._near(ops.shape(inputs)[1], cache_length, first)
        outputs = self._attend(query, rotated, values, allowed, training, start_index=first)
        return poison(outputs, ok), ops.stack([keys, values], axis=1)

    def _check_cache(self, inputs, cache, cache_update_index, masks):
        """The checked `cache_update_index` (int or int32 scalar tensor)."""
        who = f"PositionalAttention {self.name!r}"
        if cache is None or cache_update_index is None:
            given, missing = (
                ("cache", "cache_update_index")
                if cache is not None
                else ("cache_update_index", "cache")
            )
            raise ValueError(f"{who}: `{given}` needs `{missing}` too; received {missing}=None.")
        if self.bidirectional:
            raise ValueError(
                f"{who}: a `cache` is for causal decoding, where a token never sees later ones; "
                "this layer has bidirectional=True. Use bidirectional=False."
            )
        for name, value in masks.items():
            if value is not None:
                raise ValueError(
                    f"{who}: `{name}` cannot be combined with `cache`: the cache's positions "
                    f"decide which keys each query sees; received {name} of shape "
                    f"{tuple(value.shape)}."
                )
        expected = (inputs.shape[0], 2, None, self.num_heads, self.key_dim)
        shape = tuple(cache.shape)
        fits = len(shape) == 5 and all(
            want is None or got is None or got == want for got, want in zip(shape, expected)
        )
        if not fits or shape[2] is None or "float" not in dtype_name(cache):
            raise ValueError(
                f"{who}: `cache` must be a float tensor of shape (batch, 2, cache_length, "
                f"num_heads, key_dim) = {expected} with a known cache_length; received "
                f"cache.shape={shape}, dtype {dtype_name(cache)}."
            )
        index = cache_update_index
        is_scalar_tensor = ops.is_tensor(index) and is_integer(index) and len(index.shape) == 0
        if isinstance(index, bool) or not (isinstance(index, int) or is_scalar_tensor):
            raise ValueError(
                f"{who}: `cache_update_index` must be a non-negative int or scalar integer "
                f"tensor; received cache_update_index={index!r}."
            )
        return index if isinstance(index, int) else ops.cast(index, "int32")

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        layers = [keras.saving.serialize_keras_object(layer) for layer in self.position_layers]
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "position": layers[0] if len(layers) == 1 else layers or "none",
                "dropout": self.dropout,
                "bidirectional": self.bidirectional,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "fused": self.fused,
                "attention_block_size": self.attention_block_size,
                "sliding_window": self.sliding_window,
            }
        )
        return config


def _family_options(family: str, options: dict) -> dict:
    """The 0.2.0 options that belong to `family`, as its layer's arguments.

    Options of other families are dropped when they hold their default (a
    0.2.0 config carries all five); a changed one is an error, not ignored.
    """
    chosen = {}
    for name, value in options.items():
        owner, argument, default = LEGACY_OPTIONS[name]
        if owner == family:
            chosen[argument] = value
        elif value != default:
            raise argument_error(
                name, value, f"left out with position={family!r} (it is for {owner!r})"
            )
    return chosen


def _rolled_slots(cache_length, sinks, kept, first, length):
    """Indices into `cache ++ new tokens` (`cache_length + length` rows) of
    the rolled cache: slot `i` takes the sink `i` below `sinks`, else the
    token `shift` places later, `shift` being how many tokens no longer
    fit; `kept` slots of the cache hold tokens, the new ones go to slots
    `first ..`. Slots after the last new token keep a stale row, which
    causal attention never reads."""
    slots = ops.arange(cache_length, dtype="int32")
    shift = kept - first
    token = ops.where(slots < sinks, slots, slots + shift)  # Its place in kept ++ new.
    index = ops.where(token < kept, token, cache_length + token - kept)
    return ops.minimum(index, cache_length + length - 1)


def _optional_int(name, value):
    return None if value is None else check_int(name, value)


def check_block_size(value):
    """`attention_block_size` checked: `None`, `"auto"` or a positive int."""
    if value is None or (isinstance(value, str) and value == AUTO):
        return value
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise argument_error("attention_block_size", value, f"a positive int, {AUTO!r} or None")
    return int(value)
