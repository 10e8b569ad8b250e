"""A transformer encoder text classifier with a pluggable position encoding.

Built with the functional API from standard Keras layers and this package's
layers only (no `Lambda`), so `model.summary()` shows the real structure and a
saved model loads with `safe_mode=True`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras

from keras_posemb import families
from keras_posemb._args import check_bool, check_choice, check_divisible, check_int, check_number
from keras_posemb.modeling import (
    PaddingMask,
    Scale,
    SequencePooling,
    TokenDropout,
    TokenEmbedding,
    check_token_ids,
    transformer_encoder_block,
)
from keras_posemb.modeling.sequence_pooling import MODES as POOLING_MODES


class TokenIdsModel(keras.Model):
    """A functional `keras.Model` that checks its token ids before Keras casts
    them to the input's int32: a float id (1.5) or an int64 id of
    `2**32 + 5` would otherwise become the id 1 or 5, a silent row of another
    token. Ids known when the model is called raise `TokenIdError`; the
    `TokenEmbedding` (named "token_embedding") inside checks the rest."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

    def _standardize_inputs(self, inputs):
        # Keras' hook that converts the inputs to the Input's dtype.
        vocab_size, who = self.get_layer("token_embedding").input_dim, f"Model {self.name!r}"
        inputs = keras.tree.map_structure(
            lambda ids: check_token_ids(ids, vocab_size, who)[0], inputs
        )
        return super()._standardize_inputs(inputs)


@keras.saving.register_keras_serializable(package="keras_posemb")
class TextClassifier(TokenIdsModel):
    """The functional model `build_text_classifier` returns: token ids in,
    class probabilities (or logits) out, ids checked (`TokenIdsModel`)."""


def build_text_classifier(
    vocab_size: int,
    num_classes: int,
    max_length: int,
    position: str | Sequence[str] = "sinusoidal",
    embed_dim: int = 64,
    num_heads: int = 4,
    ff_dim: int = 128,
    num_layers: int = 2,
    dropout: float = 0.1,
    pooling: str = "mean",
    norm_first: bool = False,
    scale_embeddings: bool = True,
    logits: bool = False,
    token_dropout: float = 0.0,
    name: str = "text_classifier",
) -> keras.Model:
    """Builds a transformer encoder text classifier.

    Token ids `(batch, sequence)` in, class probabilities (or logits) out.
    Token id 0 is padding: its mask goes explicitly to every attention layer
    and to the pooling, so padded positions never change the output. The
    sequence dimension is `None`: shorter inputs need no re-padding; with a
    learned table, inputs longer than `max_length` raise the layer's error.

    Args:
        vocab_size: number of token ids, padding (0) included.
        num_classes: number of classes (2 or more).
        max_length: longest sequence the learned table covers (the
            sinusoidal encoding has no such limit).
        position: the name of a position family (`keras_posemb.families`):
            `"sinusoidal"` or `"learned"` (added to the token embeddings),
            `"rotary"`, `"alibi"` or `"t5"` (inside every attention layer),
            `"none"`, or any family registered since; or a list of
            `num_layers` names, one per block, of families inside attention
            or `"none"`.
        embed_dim: token embedding width.
        num_heads: attention heads per block; must divide `embed_dim`.
        ff_dim: feed-forward hidden width.
        num_layers: number of encoder blocks.
        dropout: dropout rate in the blocks and before the classifier.
        pooling: `"mean"`, `"max"` or `"first"`, over unpadded positions.
        norm_first: pre-norm blocks (with a final layer normalization)
            instead of post-norm.
        scale_embeddings: multiply the token embeddings by
            `sqrt(embed_dim)` (section 3.4 of Vaswani et al.), so that token
            identity is not drowned by the position signal at
            initialization. Part of the token path, so it is the same for
            every `position`, `"none"` included.
        logits: return logits instead of softmax probabilities.
        token_dropout: in training, replace each real token with the
            out-of-vocabulary id (1) with this probability (`TokenDropout`).
        name: the model's name.

    Returns:
        A `keras.Model`. An embeddings position layer is named
        `POSITION_LAYER_NAME`.
    """
    for name, value in [
        ("vocab_size", vocab_size),
        ("max_length", max_length),
        ("embed_dim", embed_dim),
        ("ff_dim", ff_dim),
        ("num_layers", num_layers),
    ]:
        check_int(name, value)
    check_int("num_classes", num_classes, minimum=2)
    check_divisible("num_heads", num_heads, "embed_dim", embed_dim)
    check_number("dropout", dropout, 0, 1, high_open=True)
    check_choice("pooling", pooling, POOLING_MODES)
    check_bool("scale_embeddings", scale_embeddings)
    check_number("token_dropout", token_dropout, 0, 1, high_open=True)
    positions = families.ModelPositions.for_model(
        position, families.PositionSettings(embed_dim, num_heads, max_length), num_layers
    )

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    x = token_ids
    if token_dropout:
        x = TokenDropout(token_dropout, name="token_dropout")(x)
    x = TokenEmbedding(vocab_size, embed_dim, name="token_embedding")(x)
    if scale_embeddings:  # The same for every position choice, "none" included.
        x = Scale(math.sqrt(embed_dim), name="embedding_scale")(x)
    x = positions.add_to_embeddings(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index in range(num_layers):
        x = transformer_encoder_block(
            x,
            padding_mask,
            num_heads,
            ff_dim,
            dropout,
            norm_first,
            f"encoder_block_{index}",
            positions.inside_attention(index),
        )
    if norm_first:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = SequencePooling(pooling, name=f"{pooling}_pooling")(x, mask=padding_mask)
    x = keras.layers.Dropout(dropout, name="pooled_dropout")(x)
    # float32 output keeps the loss stable under mixed precision.
    outputs = keras.layers.Dense(
        num_classes, activation=None if logits else "softmax", dtype="float32", name="classifier"
    )(x)
    return TextClassifier(token_ids, outputs, name=name)
