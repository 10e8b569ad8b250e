"""Positional information for Keras 3 transformers."""

from keras_posemb.layers import (
    PositionEmbedding,
    SinusoidalEncoding,
    SinusoidalInitializer,
)
from keras_posemb.sinusoid import sinusoidal_table

__version__ = "0.1.0"

__all__ = [
    "PositionEmbedding",
    "SinusoidalEncoding",
    "SinusoidalInitializer",
    "sinusoidal_table",
]
