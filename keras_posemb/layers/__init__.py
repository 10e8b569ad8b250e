from keras_posemb.layers._attention_bias import AttentionBias
from keras_posemb.layers.alibi_bias import AlibiBias, alibi_slopes
from keras_posemb.layers.class_token import ClassToken
from keras_posemb.layers.decoder_block import DecoderBlock
from keras_posemb.layers.grid_position_layer import GridPositionLayer
from keras_posemb.layers.padding_mask import PaddingMask
from keras_posemb.layers.position_embedding import (
    PositionEmbedding,
    SinusoidalInitializer,
)
from keras_posemb.layers.position_embedding_2d import PositionEmbedding2D
from keras_posemb.layers.positional_attention import PositionalAttention
from keras_posemb.layers.relative_position_bias import (
    RelativePositionBias,
    relative_position_buckets,
)
from keras_posemb.layers.rotary_embedding import RotaryEmbedding
from keras_posemb.layers.rotary_embedding_2d import MixedRotaryInitializer, RotaryEmbedding2D
from keras_posemb.layers.scale import Scale
from keras_posemb.layers.sequence_pooling import SequencePooling
from keras_posemb.layers.sinusoidal_encoding import SinusoidalEncoding
from keras_posemb.layers.sinusoidal_encoding_2d import SinusoidalEncoding2D, sinusoidal_grid_table
from keras_posemb.layers.token_dropout import TokenDropout
from keras_posemb.layers.token_embedding import TokenEmbedding, check_token_ids

__all__ = [
    "AlibiBias",
    "AttentionBias",
    "ClassToken",
    "DecoderBlock",
    "GridPositionLayer",
    "MixedRotaryInitializer",
    "PaddingMask",
    "PositionEmbedding",
    "PositionEmbedding2D",
    "PositionalAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "RotaryEmbedding2D",
    "Scale",
    "SequencePooling",
    "SinusoidalEncoding",
    "SinusoidalEncoding2D",
    "SinusoidalInitializer",
    "TokenDropout",
    "TokenEmbedding",
    "alibi_slopes",
    "check_token_ids",
    "relative_position_buckets",
    "sinusoidal_grid_table",
]
