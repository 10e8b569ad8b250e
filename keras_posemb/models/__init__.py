"""The three models, each taking any position family: a transformer encoder
text classifier, a causal language model with cached generation, and a
Vision Transformer; and their copies for other lengths and image sizes, or
with blockwise attention.

Each is built the same way: a `build_*` function checks its arguments,
asks the registry for the family's layers (`families.ModelPositions`) and
returns a functional subclass (`TextClassifier`, `CausalLM`,
`ImageClassifier`) whose saved config is the graph of layers, as any
functional Keras model's, so a file loads with `safe_mode=True` however the
builder changes later."""

from keras_posemb.models.causal_lm import CausalLM, build_causal_lm
from keras_posemb.models.image_classifier import ImageClassifier, build_image_classifier
from keras_posemb.models.resampling import (
    resample_position_embedding,
    resize_image_classifier,
    with_attention_blocks,
)
from keras_posemb.models.text_classifier import TextClassifier, build_text_classifier

__all__ = [
    "CausalLM",
    "ImageClassifier",
    "TextClassifier",
    "build_causal_lm",
    "build_image_classifier",
    "build_text_classifier",
    "resample_position_embedding",
    "resize_image_classifier",
    "with_attention_blocks",
]
