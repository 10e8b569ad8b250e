"""A causal transformer decoder language model with a pluggable position family.

`build_causal_lm` makes a functional model (token ids in, next-token logits
out) for training; `CausalLM.call_with_cache` runs the same layers one chunk
of tokens at a time over a key/value cache, and `CausalLM.generate` samples
text with it (`keras_posemb.models.generation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_posemb import families
from keras_posemb._args import check_divisible, check_int, check_number
from keras_posemb.families import POSITION_LAYER_NAME
from keras_posemb.modeling import DecoderBlock, TokenEmbedding
from keras_posemb.models.text_classifier import TokenIdsModel

# GPT-2's initialization of every weight matrix.
INITIALIZER_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="keras_posemb")
class CausalLM(TokenIdsModel):
    """The functional model `build_causal_lm` returns.

    Called on token ids `(batch, sequence)`, it returns the logits of the
    next token at every position, `(batch, sequence, vocab_size)`, each
    position seeing only itself and earlier ones. For decoding, the same
    layers also run over a key/value cache (`call_with_cache`), which is
    what `generate` does.
    """

    @property
    def blocks(self) -> list[DecoderBlock]:
        return [layer for layer in self.layers if isinstance(layer, DecoderBlock)]

    @property
    def vocab_size(self) -> int:
        return self.get_layer("token_embedding").input_dim

    def empty_cache(self, batch_size: int, cache_length: int) -> Any:
        """Zeros `(batch_size, num_layers, 2, cache_length, heads, key_dim)`:
        the keys and values of every block, for a sequence of no tokens yet."""
        caches = [block.attention.empty_cache(batch_size, cache_length) for block in self.blocks]
        return ops.stack(caches, axis=1)

    def call_with_cache(
        self, token_ids: Any, cache: Any, cache_update_index: Any, cache_sinks: int | None = None
    ):
        """Logits of `token_ids` placed at positions `cache_update_index ..`.

        Args:
            token_ids: integer tensor `(batch, sequence)`.
            cache: `(batch, num_layers, 2, cache_length, heads, key_dim)`,
                from `empty_cache` or an earlier call.
            cache_update_index: int or scalar integer tensor, the position of
                the first of `token_ids`; the earlier positions must be in
                the cache already.
            cache_sinks: `None`, or a rolling cache that keeps its first
                `cache_sinks` tokens and the most recent ones
                (`PositionalAttention`); positions added to the token
                embeddings stay the tokens' own.

        Returns:
            `(logits (batch, sequence, vocab_size), updated cache)`: without
            `cache_sinks`, equal to the logits of one full forward pass over
            the whole sequence, at these positions (inference: no dropout).
        """
        x = self.get_layer("token_embedding")(token_ids)
        if POSITION_LAYER_NAME in self._layer_names():
            x = self.get_layer(POSITION_LAYER_NAME)(x, start_index=cache_update_index)
        updated = []
        for index, block in enumerate(self.blocks):
            x, block_cache = block(
                x, cache=cache[:, index], cache_update_index=cache_update_index,
                cache_sinks=cache_sinks,
            )  # fmt: skip
            updated.append(block_cache)
        logits = self.get_layer("lm_head")(self.get_layer("final_norm")(x))
        return logits, ops.stack(updated, axis=1)

    def _layer_names(self) -> set[str]:
        return {layer.name for layer in self.layers}

    def generate(
        self,
        prompt_ids: Any,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        cache: str = "full",
        window: int | None = None,
        sinks: int | None = None,
    ):
        """`prompt_ids` followed by `max_new_tokens` sampled tokens.

        See `keras_posemb.models.generation.generate`; the compiled prefill and step
        are kept on the model, so later calls with the same shapes reuse them.
        """
        from keras_posemb.models import generation

        return generation.generate(
            self,
            prompt_ids,
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            cache=cache,
            window=window,
            sinks=sinks,
        )


def build_causal_lm(
    vocab_size: int,
    max_length: int,
    position: str | Sequence[str] = "rotary",
    embed_dim: int = 128,
    num_heads: int = 4,
    ff_dim: int | None = None,
    num_layers: int = 4,
    dropout: float = 0.0,
    sliding_window: int | None = None,
    attention_block_size: int | None = None,
    name: str = "causal_lm",
) -> CausalLM:
    """Builds a pre-norm GPT-style causal language model.

    Token embeddings (plus the family's position layer for `"sinusoidal"` or
    `"learned"`), `num_layers` `DecoderBlock`s (causal `PositionalAttention`
    with the family inside for `"rotary"`, `"alibi"`, `"t5"`), a final layer
    normalization and a linear head to the vocabulary in float32. Weights
    start from GPT-2's `N(0, 0.02)`.

    The output embedding is not tied to the input one: at character and
    byte vocabularies the head is a small part of the weights, and an
    untied head is a plain `Dense`, so saved models load with `safe_mode=True` and nothing
    custom.

    Args:
        vocab_size: number of token ids.
        max_length: the training context; the learned table covers this many
            positions (other families have no such limit, see
            docs/decoders.md).
        position: the name of a position family (`keras_posemb.families`),
            or a list of `num_layers` names, one per block, of families
            inside attention or `"none"` (`["rotary", "none", "none",
            "none"]`: rotary in one block of four, as Llama 4 interleaves).
            Defaults to `"rotary"`, the choice of LLaMA and GPT-NeoX.
        embed_dim: width of the token embeddings and of every block.
        num_heads: attention heads; must divide `embed_dim`.
        ff_dim: feed-forward hidden width. Defaults to `4 * embed_dim`.
        num_layers: number of decoder blocks.
        dropout: dropout rate after the embeddings and inside each block.
        sliding_window: `None`, or each token attends to the last
            `sliding_window` tokens only (itself included; Mistral's scheme).
        attention_block_size: `None`, or attention in blocks of this many
            tokens, with memory that grows linearly with the length
            (`PositionalAttention`; `"auto"`: beyond a length where that is
            faster too); `with_attention_blocks` sets it on a built model.
        name: the model's name.

    Returns:
        A `CausalLM`: token ids `(batch, sequence)` to logits `(batch,
        sequence, vocab_size)`.

    Example:

    ```python
    model = keras_posemb.models.build_causal_lm(65, max_length=64, position="alibi")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(inputs, targets)  # targets: inputs shifted left by one token
    text_ids = model.generate(prompt_ids, max_new_tokens=100, temperature=0.8, seed=0)
    ```
    """
    check_int("vocab_size", vocab_size, minimum=2)  # One token leaves nothing to predict.
    for argument, value in [
        ("max_length", max_length),
        ("embed_dim", embed_dim),
        ("num_layers", num_layers),
    ]:
        check_int(argument, value)
    ff_dim = check_int("ff_dim", 4 * embed_dim if ff_dim is None else ff_dim)
    check_divisible("num_heads", num_heads, "embed_dim", embed_dim)
    check_number("dropout", dropout, 0, 1, high_open=True)
    positions = families.ModelPositions.for_model(
        position,
        families.PositionSettings(embed_dim, num_heads, max_length, bidirectional=False),
        num_layers,
    )
    initializer = keras.initializers.RandomNormal(stddev=INITIALIZER_STDDEV)

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = TokenEmbedding(
        vocab_size, embed_dim, embeddings_initializer=initializer, name="token_embedding"
    )(token_ids)
    x = positions.add_to_embeddings(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index in range(num_layers):
        x = DecoderBlock(
            num_heads,
            ff_dim,
            positions.inside_attention(index),
            dropout,
            kernel_initializer=initializer,
            attention_block_size=attention_block_size,
            sliding_window=sliding_window,
            name=f"decoder_block_{index}",
        )(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = keras.layers.Dense(
        vocab_size, kernel_initializer=initializer, dtype="float32", name="lm_head"
    )(x)
    return CausalLM(token_ids, logits, name=name)
