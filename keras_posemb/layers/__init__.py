from keras_posemb.layers._attention_bias import AttentionBias
from keras_posemb.layers.alibi_bias import AlibiBias, alibi_slopes
from keras_posemb.layers.decoder_block import DecoderBlock
from keras_posemb.layers.padding_mask import PaddingMask
from keras_posemb.layers.position_embedding import (
    PositionEmbedding,
    SinusoidalInitializer,
)
from keras_posemb.layers.positional_attention import PositionalAttention
from keras_posemb.layers.relative_position_bias import (
    RelativePositionBias,
    relative_position_buckets,
)
from keras_posemb.layers.rotary_embedding import RotaryEmbedding
from keras_posemb.layers.scale import Scale
from keras_posemb.layers.sequence_pooling import SequencePooling
from keras_posemb.layers.sinusoidal_encoding import SinusoidalEncoding
from keras_posemb.layers.token_dropout import TokenDropout
from keras_posemb.layers.token_embedding import TokenEmbedding, check_token_ids

__all__ = [
    "AlibiBias",
    "AttentionBias",
    "DecoderBlock",
    "PaddingMask",
    "PositionEmbedding",
    "PositionalAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "Scale",
    "SequencePooling",
    "SinusoidalEncoding",
    "SinusoidalInitializer",
    "TokenDropout",
    "TokenEmbedding",
    "alibi_slopes",
    "check_token_ids",
    "relative_position_buckets",
]
