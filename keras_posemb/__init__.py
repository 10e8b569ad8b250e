"""Positional information for Keras 3 transformers.

The position layers, attention that takes them, the three models, the
registry of position families and the errors to catch. Importing the
package makes its layers and models known to Keras, so that saved `.keras`
files load with `safe_mode=True`.
"""

from keras_posemb import _backend
from keras_posemb.errors import (
    ArgumentError,
    DataError,
    PositionRangeError,
    RunError,
    TokenIdError,
)
from keras_posemb.numerics.sinusoid import sinusoidal_table

_BACKEND_PROBLEM = _backend.problem()
if _BACKEND_PROBLEM is None:
    from keras_posemb.families import PositionFamily, PositionSettings, get, register
    from keras_posemb.layers import (
        AlibiBias,
        AttentionBias,
        FireBias,
        KerpleBias,
        PositionEmbedding,
        PositionEmbedding2D,
        RelativePositionBias,
        RotaryEmbedding,
        RotaryEmbedding2D,
        SinusoidalEncoding,
        SinusoidalEncoding2D,
        SinusoidalInitializer,
    )
    from keras_posemb.modeling import DecoderBlock, PositionalAttention
    from keras_posemb.models import (
        CausalLM,
        ImageClassifier,
        TextClassifier,
        build_causal_lm,
        build_image_classifier,
        build_text_classifier,
    )
else:  # Keras cannot be imported; say why, on first use (the CLI says it at once).

    def __getattr__(name):
        if name in __all__:
            raise ImportError(_BACKEND_PROBLEM)
        raise AttributeError(f"module 'keras_posemb' has no attribute {name!r}")


__version__ = "0.3.0"

__all__ = [
    "AlibiBias",
    "ArgumentError",
    "AttentionBias",
    "CausalLM",
    "DataError",
    "DecoderBlock",
    "FireBias",
    "ImageClassifier",
    "KerpleBias",
    "PositionEmbedding",
    "PositionEmbedding2D",
    "PositionFamily",
    "PositionRangeError",
    "PositionSettings",
    "PositionalAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "RotaryEmbedding2D",
    "RunError",
    "SinusoidalEncoding",
    "SinusoidalEncoding2D",
    "SinusoidalInitializer",
    "TextClassifier",
    "TokenIdError",
    "build_causal_lm",
    "build_image_classifier",
    "build_text_classifier",
    "get",
    "register",
    "sinusoidal_table",
]
