"""Positional information for Keras 3 transformers."""

from keras_posemb.errors import PositionRangeError
from keras_posemb.layers import (
    PositionEmbedding,
    SinusoidalEncoding,
    SinusoidalInitializer,
)
from keras_posemb.sinusoid import sinusoidal_table

__version__ = "0.2.0"

__all__ = [
    "PositionEmbedding",
    "PositionRangeError",
    "SinusoidalEncoding",
    "SinusoidalInitializer",
    "sinusoidal_table",
]
