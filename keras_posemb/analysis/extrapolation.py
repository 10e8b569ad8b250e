"""A language model's loss on held-out text at and beyond its training context.

`window_loss` scores token ids in windows of one length (non-overlapping,
or sliding), with blockwise attention beyond `BLOCKWISE_FROM` tokens so
that memory grows linearly with the window (`models.with_attention_blocks`);
`extrapolation_losses` does it at 1x, 2x, 4x and 8x the training context
(or other factors), `None` where the model's position family cannot encode
that length (a learned table ends at its last row); `with_rope_scaling`
gives a rotary model's copy with a RoPE context extension
(`keras_posemb.numerics.rope_scaling`) applied at evaluation time.
`streaming_losses` scores a text fed one token at a time through the
key/value cache (full, or rolling: StreamingLLM's setting), and
`recomputed_losses` its baseline, a full pass over the last tokens for
each one. `exact_match` scores the answers of algorithmic tasks
(`data.algorithmic`). NumPy and Keras only, on every backend.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_posemb import families
from keras_posemb._args import check_int
from keras_posemb.data.characters import windows
from keras_posemb.layers import RotaryEmbedding
from keras_posemb.models import generation, with_attention_blocks
from keras_posemb.numerics.rope_scaling import check_rope_scaling
from keras_posemb.numerics.sampling import check_cache

FACTORS = (1, 2, 4, 8)
# Windows scored per call of the model: about 8 MiB of float32 logits at
# 65 characters and 512 tokens.
TOKENS_PER_CALL = 32768
# Windows longer than this are scored in attention blocks of BLOCK_SIZE: all
# logits at once would need batch x heads x length^2 floats per layer.
BLOCKWISE_FROM = 1024
BLOCK_SIZE = 256


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def window_loss(model, ids: np.ndarray, length: int, stride: int | None = None) -> float:
    """Mean cross-entropy (nats per token) of `model` on `ids` in windows of
    `length` tokens (`data.characters.windows`: non-overlapping without
    `stride`, else sliding by `stride`), summed in float64; windows longer
    than `BLOCKWISE_FROM` tokens through a copy of `model` with blockwise
    attention, so that memory grows linearly with the length."""
    inputs, targets, scored = windows(ids, length, stride)
    if length > BLOCKWISE_FROM:
        model = with_attention_blocks(model, BLOCK_SIZE)
    batch = min(len(inputs), max(1, TOKENS_PER_CALL // length))
    # The last batch is filled up with unscored copies of the first window:
    # one batch shape, so a compiling backend compiles once per length.
    filler = (-len(inputs)) % batch
    inputs = np.concatenate([inputs, np.repeat(inputs[:1], filler, axis=0)])
    targets = np.concatenate([targets, np.repeat(targets[:1], filler, axis=0)])
    scored = np.concatenate([scored, np.zeros((filler, length), scored.dtype)])
    total = 0.0
    for start in range(0, len(inputs), batch):
        chunk = slice(start, start + batch)
        logits = keras.ops.convert_to_numpy(model.predict_on_batch(inputs[chunk]))
        picked = np.take_along_axis(_log_softmax(logits), targets[chunk][..., None], axis=-1)
        total -= float((picked[..., 0] * scored[chunk]).sum())
    return total / float(scored.sum())


def exact_match(model, inputs, targets, weights, batch_size: int = 64) -> np.ndarray:
    """Per example, whether `model` gets every weighted target (an answer)
    right: each is the most likely next token given the true tokens before
    it, which is exactly when greedy decoding writes the whole answer.

    Args:
        inputs, targets, weights: `(examples, length)` arrays, as
            `data.algorithmic.encode` gives them.
        batch_size: examples per call of the model.

    Returns:
        a boolean array `(examples,)`.
    """
    check_int("batch_size", batch_size)
    right = []
    for start in range(0, len(inputs), batch_size):
        chunk = slice(start, start + batch_size)
        logits = keras.ops.convert_to_numpy(model.predict_on_batch(inputs[chunk]))
        wrong = (np.argmax(logits, axis=-1) != targets[chunk]) & (weights[chunk] > 0)
        right.append(~wrong.any(axis=-1))
    return np.concatenate(right)


def _target_losses(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cross-entropy (nats) of each target id under its row of logits."""
    picked = np.take_along_axis(_log_softmax(logits), targets[..., None], axis=-1)
    return -picked[..., 0]


def _check_streams(ids) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] < 2 or ids.dtype.kind not in "iu":
        raise ValueError(
            f"`ids` must be integer token ids of shape (streams, length) with length >= 2; "
            f"received shape {ids.shape}, dtype {ids.dtype}."
        )
    return ids.astype(np.int32)


def streaming_losses(
    model, ids, cache: str = "full", window: int | None = None, sinks: int | None = None
) -> np.ndarray:
    """Cross-entropy (nats) of each next token of `ids` `(streams, length)`,
    the streams fed side by side one token at a time through the key/value
    cache of `generate` (`cache`, `window`, `sinks` as there): `(streams,
    length - 1)`. A rolling cache keeps memory constant however long the
    stream; the full cache holds all of it."""
    ids = _check_streams(ids)
    rolling = check_cache(cache, window, sinks)
    streams, length = ids.shape
    cache_length = generation.cache_size(length - 1, window, rolling)
    if cache_length == length - 1:
        rolling = None  # Nothing rolls: the full cache gives the same losses.
    generation.check_generation_fits(model, streams, 1, length - 1, cache_length=cache_length)
    step = generation.generator_of(model).step(rolling)
    kv_cache = model.empty_cache(streams, cache_length)
    as_index = keras.ops.convert_to_tensor
    losses = np.empty((streams, length - 1))
    for position in range(length - 1):
        token = as_index(ids[:, position : position + 1])
        logits, kv_cache = step(token, kv_cache, as_index(np.int32(position)))
        losses[:, position] = _target_losses(
            keras.ops.convert_to_numpy(logits), ids[:, position + 1]
        )
    return losses


def recomputed_losses(model, ids, window: int) -> np.ndarray:
    """Like `streaming_losses`, each token scored by a full pass over the
    last `window` tokens before it (fewer at the start): the "sliding
    window with re-computation" baseline of StreamingLLM."""
    ids = _check_streams(ids)
    check_int("window", window)
    streams, length = ids.shape
    window = min(window, length - 1)
    # The first window's passes are one causal pass; then one window per token.
    first = model.predict_on_batch(ids[:, :window])
    losses = [_target_losses(keras.ops.convert_to_numpy(first), ids[:, 1 : window + 1])]
    if length - 1 > window:
        inputs = np.lib.stride_tricks.sliding_window_view(ids[:, 1:-1], window, axis=1)
        inputs = inputs.reshape(-1, window)  # (streams x tokens, window), stream-major.
        batch = max(1, TOKENS_PER_CALL // window)
        last = [
            keras.ops.convert_to_numpy(model.predict_on_batch(inputs[start : start + batch]))
            for start in range(0, len(inputs), batch)
        ]
        last = np.concatenate([logits[:, -1] for logits in last])
        targets = ids[:, window + 1 :].reshape(-1)
        losses.append(_target_losses(last, targets).reshape(streams, -1))
    return np.concatenate(losses, axis=1)


def extrapolation_losses(
    model, ids: np.ndarray, context: int, factors=FACTORS, sliding: bool = False
) -> dict[str, float | None]:
    """`{"1": loss, "2": ..., ...}`: `window_loss` at each factor times the
    training `context`; `None` where the model cannot encode that length
    (or the text is shorter than one window). Non-overlapping windows, or
    with `sliding`, windows that move by half their length and score their
    last half (every scored token sees at least half a window before it)."""
    losses = {}
    for factor in factors:
        length = factor * context
        if why_unscored(model, ids, length):
            losses[str(factor)] = None
            continue
        losses[str(factor)] = window_loss(model, ids, length, length // 2 or 1 if sliding else None)
    return losses


def why_unscored(model, ids: np.ndarray, length: int) -> str | None:
    """Why windows of `length` tokens of `ids` cannot be scored (`None`: they can)."""
    if length > families.covered_positions(model):
        return (
            f"past the {families.covered_positions(model):,} positions of the model's learned table"
        )
    if length > len(ids) - 1:
        return f"the validation text has {len(ids):,} tokens, fewer than a window needs"
    return None


def with_rope_scaling(model, rope_scaling: dict | None):
    """A copy of `model` (same weights) whose rotary layers use `rope_scaling`
    (a Hugging Face style dictionary, `keras_posemb.numerics.rope_scaling`).

    Raises:
        ValueError: when the model has no rotary layer, or `rope_scaling`
            is not a valid dictionary (naming the key).
    """
    check_rope_scaling(rope_scaling)
    config, replaced = model.get_config(), 0
    for layer_config in config["layers"]:
        block = getattr(model.get_layer(layer_config["name"]), "attention", None)
        rotary = [
            layer
            for layer in getattr(block, "position_layers", [])
            if isinstance(layer, RotaryEmbedding)
        ]
        if rotary:
            layer_settings = {**rotary[0].get_config(), "rope_scaling": rope_scaling}
            layer_settings.pop("scaling_factor")
            copy = RotaryEmbedding.from_config(layer_settings)
            layer_config["config"]["position"] = keras.saving.serialize_keras_object(copy)
            replaced += 1
    if not replaced:
        raise ValueError(f"Model {model.name!r} has no rotary position layer to rescale.")
    scaled = model.__class__.from_config(config)
    scaled.set_weights(model.get_weights())
    return scaled
