"""Attention in blocks: memory that grows linearly with the length, in
inference and in training.

The explicit path holds the `(batch, heads, query, key)` logits at once,
which grows with the square of the length. This takes the queries
`block_size` at a time and, for each query block, the keys `block_size` at
a time (Rabe and Staats 2021, "Self-attention does not need O(n^2)
memory"): each key block gives its softmax numerators relative to its own
largest logit, their sum and the weighted sum of its values; these are then
rescaled to the largest logit over all blocks and added (Milakov and
Gimelshein 2018). A `(batch, heads, block, block)` tile of logits is made
one key block at a time; a bias is computed for the tile's query and key
positions alone; key blocks that no query of the block may see (after it
when causal, outside the window) are skipped. Each query block is
rematerialized (`keras.remat`): the backward pass recomputes its tiles
instead of storing them, so training memory grows linearly too. Loops are
`keras.ops.map`, whose length is fixed, as XLA needs to differentiate them
(TensorFlow's `fori_loop` is not). The result is the softmax attention of
the explicit path, to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from keras_posemb.layers._attention_bias import MASKED_LOGIT


def blockwise_attention(
    query: Any,
    key: Any,
    value: Any,
    block_size: int,
    scale: float,
    bias: Callable[[Any, Any], Any] | None = None,
    bias_variables: Sequence[Any] = (),
    allowed: Any = None,
    causal: bool = False,
    window: int | None = None,
    start_index: Any = 0,
) -> Any:
    """`softmax(scale * q.k + bias, masked) . v`, in `block_size` tiles.

    Args:
        query: float32 `(batch, query, heads, depth)`, at positions
            `start_index ..`.
        key: float32 `(batch, key, heads, depth)`, at positions `0 ..`.
        value: float32, shaped as `key`.
        block_size: queries and keys per block; the last may be shorter.
        scale: multiplies the logits.
        bias: `(query_positions, key_positions) -> (..., heads, query,
            block)`, added to the logits (`AttentionBias.bias`), or `None`.
        bias_variables: the Keras variables `bias` reads (a T5 table), so
            that their gradients survive the rematerialization.
        allowed: boolean `(batch or 1, query or 1, key)`, the keys each
            query may see (a padding mask has one row for every query), or
            `None` for all of them.
        causal: mask the keys after each query's position.
        window: `None`, or each query sees only keys less than `window`
            positions away (`sliding_window`).
        start_index: position of the first query.

    Returns:
        float32 `(batch, query, heads, depth)`; a query that may see no key
        (a padded one) gets an average of values, as on the explicit path,
        never NaN.
    """
    batch, query_length = ops.shape(query)[0], ops.shape(query)[1]
    key_length, heads, depth = ops.shape(key)[1], key.shape[2], key.shape[3]
    query_blocks = (query_length + block_size - 1) // block_size
    key_blocks = (key_length + block_size - 1) // block_size
    query = _pad(query * scale, query_blocks * block_size - query_length, 1, ops.zeros)
    key, value = (_pad(x, key_blocks * block_size - key_length, 1, ops.zeros) for x in (key, value))
    if allowed is not None:
        allowed = ops.cast(allowed, "bool")
        if allowed.shape[1] != 1:
            allowed = _pad(allowed, query_blocks * block_size - query_length, 1, _falses)
        allowed = _pad(allowed, key_blocks * block_size - key_length, 2, _falses)
    # (query_blocks, batch, block, heads, depth): one query block per map step.
    query = ops.reshape(query, (batch, query_blocks, block_size, heads, depth))
    query = ops.transpose(query, (1, 0, 2, 3, 4))

    # Keys, values and the bias's variables are arguments of the
    # rematerialized function, not closed over: TensorFlow's `recompute_grad`
    # differentiates its arguments alone (and fails on variables read inside
    # a loop); the bias reads its variables' values from a StatelessScope.
    def attend(queries, first_query, key, value, *variable_values):
        mapping = list(zip(bias_variables, variable_values))
        with keras.StatelessScope(state_mapping=mapping, initialize_variables=False):
            return attend_block(queries, first_query, key, value)

    def attend_block(queries, first_query, key, value):
        query_positions = ops.arange(block_size, dtype="int32") + first_query + start_index
        rows = _rows(allowed, first_query, block_size)

        def partial(first_key):
            needed = _block_needed(first_key, block_size, query_positions, causal, window)
            return ops.cond(needed, lambda: attend_keys(first_key), skipped)

        def attend_keys(first_key):
            keys = ops.slice(key, (0, first_key, 0, 0), (batch, block_size, heads, depth))
            values = ops.slice(value, (0, first_key, 0, 0), (batch, block_size, heads, depth))
            key_positions = ops.arange(block_size, dtype="int32") + first_key
            logits = ops.einsum("bqhd,bkhd->bhqk", queries, keys)
            if bias is not None:
                logits = logits + bias(query_positions, key_positions)
            visible = _visible(rows, first_key, block_size, query_positions, key_positions,
                               causal, window)  # fmt: skip
            if visible is not None:
                logits = ops.where(visible, logits, MASKED_LOGIT)
            real = ops.less(key_positions, key_length)  # Not the padding after the last key.
            logits = ops.where(real, logits, MASKED_LOGIT)
            largest = ops.max(logits, axis=-1)
            weights = ops.exp(logits - ops.expand_dims(largest, -1)) * ops.cast(real, "float32")
            context = ops.einsum("bhqk,bkhd->bqhd", weights, values)
            return largest, ops.sum(weights, axis=-1), context

        def skipped():
            return (
                ops.full((batch, heads, block_size), MASKED_LOGIT, "float32"),
                ops.zeros((batch, heads, block_size), "float32"),
                ops.zeros((batch, block_size, heads, depth), "float32"),
            )

        firsts = ops.arange(key_blocks, dtype="int32") * block_size
        largest, total, context = ops.map(partial, firsts)
        # Each key block's softmax numerators are relative to its own
        # largest logit: rescaled to the largest over all blocks, summed.
        rescale = ops.exp(largest - ops.max(largest, axis=0, keepdims=True))
        total = ops.sum(total * rescale, axis=0)
        context = ops.sum(context * ops.expand_dims(ops.swapaxes(rescale, 2, 3), -1), axis=0)
        return context / _per_query(total)

    firsts = ops.arange(query_blocks, dtype="int32") * block_size
    attend = keras.remat(attend)
    values_of_variables = [variable.value for variable in bias_variables]
    context = ops.map(
        lambda inputs: attend(*inputs, key, value, *values_of_variables), (query, firsts)
    )
    context = ops.reshape(ops.transpose(context, (1, 0, 2, 3, 4)), (batch, -1, heads, depth))
    return context[:, :query_length]


def _pad(x, padding, axis, fill):
    shape = [ops.shape(x)[i] for i in range(len(x.shape))]
    shape[axis] = padding
    return ops.concatenate([x, fill(tuple(shape), x.dtype)], axis=axis)


def _falses(shape, dtype):
    return ops.zeros(shape, "bool")


def _per_query(x):
    """`(batch, heads, query)` -> `(batch, query, heads, 1)`, to scale the context."""
    return ops.expand_dims(ops.transpose(x, (0, 2, 1)), -1)


def _rows(allowed, first_query, block_size):
    """The query block's rows of `allowed` (its one row if it has one), or `None`."""
    if allowed is None or allowed.shape[1] == 1:
        return allowed
    rows, keys = ops.shape(allowed)[0], ops.shape(allowed)[2]
    return ops.slice(allowed, (0, first_query, 0), (rows, block_size, keys))


def _block_needed(first_key, block_size, query_positions, causal, window):
    """Whether any query of the block may see a key of the key block."""
    needed = ops.convert_to_tensor(True)
    if causal:
        needed = ops.less_equal(first_key, query_positions[-1])
    if window is not None:
        last_key = first_key + block_size - 1
        needed = ops.logical_and(needed, ops.greater(last_key, query_positions[0] - window))
        if not causal:
            needed = ops.logical_and(needed, ops.less(first_key, query_positions[-1] + window))
    return needed


def _visible(rows, first_key, block_size, query_positions, key_positions, causal, window):
    """Boolean `(batch or 1, 1, query, block)` of the block's keys each query
    may see, or `None` when it may see them all."""
    visible = None
    if rows is not None:
        batch, queries = ops.shape(rows)[0], ops.shape(rows)[1]
        visible = ops.slice(rows, (0, 0, first_key), (batch, queries, block_size))
    near = within(query_positions, key_positions, causal, window)
    if near is not None:
        visible = near[None] if visible is None else ops.logical_and(visible, near)
    return None if visible is None else ops.expand_dims(visible, 1)


def within(query_positions, key_positions, causal, window):
    """Boolean `(query, key)`: key at or before the query when `causal`, and
    less than `window` positions away when a window is given; `None` when
    every key is allowed."""
    distance = ops.expand_dims(query_positions, 1) - ops.expand_dims(key_positions, 0)
    near = None
    if causal:
        near = ops.greater_equal(distance, 0)
    if window is not None:
        inside = ops.less(ops.abs(distance), window)
        near = inside if near is None else ops.logical_and(near, inside)
    return near
