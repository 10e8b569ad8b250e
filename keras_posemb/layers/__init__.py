"""Position layers: what a family adds to token embeddings, rotates
queries and keys by, or adds to attention logits (`keras.ops` only)."""

from keras_posemb.layers._attention_bias import AttentionBias
from keras_posemb.layers.alibi_bias import AlibiBias, alibi_slopes
from keras_posemb.layers.fire_bias import FireBias
from keras_posemb.layers.grid_position_layer import GridPositionLayer
from keras_posemb.layers.kerple_bias import KerpleBias
from keras_posemb.layers.position_embedding import (
    PositionEmbedding,
    SinusoidalInitializer,
)
from keras_posemb.layers.position_embedding_2d import PositionEmbedding2D
from keras_posemb.layers.relative_position_bias import (
    RelativePositionBias,
    relative_position_buckets,
)
from keras_posemb.layers.rotary_embedding import RotaryEmbedding
from keras_posemb.layers.rotary_embedding_2d import MixedRotaryInitializer, RotaryEmbedding2D
from keras_posemb.layers.sinusoidal_encoding import SinusoidalEncoding
from keras_posemb.layers.sinusoidal_encoding_2d import SinusoidalEncoding2D, sinusoidal_grid_table

__all__ = [
    "AlibiBias",
    "AttentionBias",
    "FireBias",
    "GridPositionLayer",
    "KerpleBias",
    "MixedRotaryInitializer",
    "PositionEmbedding",
    "PositionEmbedding2D",
    "RelativePositionBias",
    "RotaryEmbedding",
    "RotaryEmbedding2D",
    "SinusoidalEncoding",
    "SinusoidalEncoding2D",
    "SinusoidalInitializer",
    "alibi_slopes",
    "relative_position_buckets",
    "sinusoidal_grid_table",
]
