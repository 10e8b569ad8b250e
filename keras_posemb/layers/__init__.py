from keras_posemb.layers.position_embedding import (
    PositionEmbedding,
    SinusoidalInitializer,
)
from keras_posemb.layers.sinusoidal_encoding import SinusoidalEncoding

__all__ = ["PositionEmbedding", "SinusoidalEncoding", "SinusoidalInitializer"]
