from keras_posemb.layers.padding_mask import PaddingMask
from keras_posemb.layers.position_embedding import (
    PositionEmbedding,
    SinusoidalInitializer,
)
from keras_posemb.layers.sequence_pooling import SequencePooling
from keras_posemb.layers.sinusoidal_encoding import SinusoidalEncoding

__all__ = [
    "PaddingMask",
    "PositionEmbedding",
    "SequencePooling",
    "SinusoidalEncoding",
    "SinusoidalInitializer",
]
