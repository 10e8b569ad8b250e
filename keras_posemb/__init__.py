"""Positional information for Keras 3 transformers."""

from keras_posemb.errors import PositionRangeError
from keras_posemb.layers import (
    AlibiBias,
    PositionalAttention,
    PositionEmbedding,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalEncoding,
    SinusoidalInitializer,
)
from keras_posemb.sinusoid import sinusoidal_table

__version__ = "0.3.0"

__all__ = [
    "AlibiBias",
    "PositionEmbedding",
    "PositionRangeError",
    "PositionalAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "SinusoidalEncoding",
    "SinusoidalInitializer",
    "sinusoidal_table",
]
