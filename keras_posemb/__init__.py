"""Positional information for Keras 3 transformers."""

from keras_posemb import _backend
from keras_posemb.errors import PositionRangeError, TokenIdError
from keras_posemb.sinusoid import sinusoidal_table

_BACKEND_PROBLEM = _backend.problem()
if _BACKEND_PROBLEM is None:
    from keras_posemb import models  # noqa: F401  (registers TextClassifier for loading)
    from keras_posemb.layers import (
        AlibiBias,
        PositionalAttention,
        PositionEmbedding,
        PositionEmbedding2D,
        RelativePositionBias,
        RotaryEmbedding,
        RotaryEmbedding2D,
        SinusoidalEncoding,
        SinusoidalEncoding2D,
        SinusoidalInitializer,
    )
else:  # Keras cannot be imported; say why, on first use (the CLI says it at once).

    def __getattr__(name):
        if name in __all__:
            raise ImportError(_BACKEND_PROBLEM)
        raise AttributeError(f"module 'keras_posemb' has no attribute {name!r}")


__version__ = "0.3.0"

__all__ = [
    "AlibiBias",
    "PositionEmbedding",
    "PositionEmbedding2D",
    "PositionRangeError",
    "PositionalAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "RotaryEmbedding2D",
    "SinusoidalEncoding",
    "SinusoidalEncoding2D",
    "SinusoidalInitializer",
    "TokenIdError",
    "sinusoidal_table",
]
