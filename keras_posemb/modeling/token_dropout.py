from __future__ import annotations

import keras
from keras import ops

from keras_posemb._args import check_int, check_number


@keras.saving.register_keras_serializable(package="keras_posemb")
class TokenDropout(keras.layers.Layer):
    """Word dropout: replaces real tokens with the unknown-token id at random.

    In training, each token that is not padding becomes `replacement_id`
    (the out-of-vocabulary id of a `TextVectorization` vocabulary) with
    probability `rate`, so that a classifier cannot lean on a few frequent
    words; at inference the ids pass unchanged. Unlike dropout on the
    embeddings, the whole word is gone, and the padding mask, computed from
    the same ids, is unchanged. Random draws come from the layer's seed
    generator, whose state a checkpoint saves: a resumed run draws what an
    uninterrupted one would.

    Args:
        rate: probability of replacing a token, in `[0, 1)`.
        replacement_id: the id that replaces a token. Defaults to `1`.
        padding_id: the id of padding, never replaced. Defaults to `0`.
        seed: optional int seed for the draws.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        token_ids: integer tensor `(batch, sequence)`.
        training: whether to drop tokens.

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    dropped = keras_posemb.modeling.TokenDropout(0.1)(token_ids)
    x = keras.layers.Embedding(20000, 64)(dropped)
    ```

    References:
        - [Iyyer et al., 2015](https://aclanthology.org/P15-1162/), word dropout
    """

    def __init__(
        self,
        rate: float,
        replacement_id: int = 1,
        padding_id: int = 0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate = float(check_number("rate", rate, 0, 1, high_open=True))
        self.replacement_id = check_int("replacement_id", replacement_id, minimum=0)
        self.padding_id = check_int("padding_id", padding_id, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=None):
        if not training or self.rate == 0:
            return token_ids
        draws = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
        replace = ops.logical_and(draws < self.rate, ops.not_equal(token_ids, self.padding_id))
        return ops.where(replace, ops.cast(self.replacement_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, token_ids, training=None):
        return keras.KerasTensor(token_ids.shape, dtype=token_ids.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rate": self.rate,
                "replacement_id": self.replacement_id,
                "padding_id": self.padding_id,
                "seed": self.seed,
            }
        )
        return config
