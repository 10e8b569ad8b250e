"""Models for other lengths and image sizes: their learned position tables
resampled (`keras_posemb.numerics.resample`), every other weight copied; and
a model's copy with blockwise attention, for lengths beyond what its full
attention logits fit in memory."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import keras

from keras_posemb._args import check_int
from keras_posemb.errors import argument_error
from keras_posemb.layers import PositionEmbedding, PositionEmbedding2D
from keras_posemb.modeling.positional_attention import check_block_size
from keras_posemb.models.image_classifier import ImageClassifier, build_image_classifier
from keras_posemb.numerics.resample import GRID_INTERPOLATIONS, check_interpolation


def resample_position_embedding(
    model: Any,
    max_length: int,
    interpolation: str = "linear",
    antialias: bool = True,
) -> keras.Model:
    """A copy of `model` whose `PositionEmbedding` tables have `max_length` rows.

    Every table is resampled (`PositionEmbedding.resample`); every other
    weight is copied. The model is rebuilt from its config, so it must be a
    functional model (or one whose config rebuilds it), as the package's
    text classifiers and language models are.

    Args:
        model: a Keras model, or the path of a saved `.keras` file (loaded
            with `safe_mode=True`).
        max_length: the new number of positions.
        interpolation: `"linear"` or `"cubic"`.
        antialias: widen the kernel when shrinking.

    Returns:
        The new model (the given one is left unchanged).
    """
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, safe_mode=True)
    check_int("max_length", max_length)
    check_interpolation(interpolation)
    tables = [layer for layer in model.layers if isinstance(layer, PositionEmbedding)]
    if not tables:
        raise ValueError(f"Model {model.name!r} has no PositionEmbedding layer to resample.")
    config = model.get_config()
    for layer_config in config["layers"]:
        if layer_config["name"] in {layer.name for layer in tables}:
            layer_config["config"]["max_length"] = max_length
    resized = type(model).from_config(config)
    for layer in model.layers:
        target = resized.get_layer(layer.name)
        if isinstance(layer, PositionEmbedding):
            weights = [layer.resampled_table(max_length, interpolation, antialias)]
        else:
            weights = layer.get_weights()
        target.set_weights(weights)
    return resized


def resize_image_classifier(
    model: ImageClassifier,
    image_size: Any,
    interpolation: str | None = None,
    antialias: bool = True,
) -> ImageClassifier:
    """The same classifier for images of another size, its weights copied.

    Learned position tables are resampled to the new grid: a 2-D table with
    `interpolation` (`"bicubic"` or `"bilinear"`; default the layer's own),
    a 1-D table over the flattened patches with `"cubic"` or `"linear"`
    along its length (the naive baseline). Fixed encodings and rotary
    positions need no change: they are computed for the new grid, and
    RoPE-Mixed's learned frequencies apply to any grid.

    Args:
        model: an `ImageClassifier`.
        image_size: the new image size (an int or `(height, width)`).
        interpolation: overrides the 2-D tables' interpolation; for a 1-D
            table, `"bilinear"`/`"bicubic"` mean `"linear"`/`"cubic"`.
        antialias: widen the kernel when shrinking.

    Returns:
        A new `ImageClassifier`; `model` is left unchanged.
    """
    if not isinstance(model, ImageClassifier):
        raise argument_error("model", type(model).__name__, "an ImageClassifier")
    resized = build_image_classifier(
        **{**model.arguments, "image_size": image_size}, name=model.name
    )
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, PositionEmbedding2D):
            table = layer.resampled_table(resized.grid_size, interpolation, antialias)
            weights = [table, *weights[1:]]
        elif isinstance(layer, PositionEmbedding):
            kernel = GRID_INTERPOLATIONS.get(interpolation, "cubic")
            length = resized.get_layer(layer.name).max_length
            weights = [layer.resampled_table(length, kernel, antialias)]
        resized.get_layer(layer.name).set_weights(weights)
    return resized


def with_attention_blocks(model: Any, attention_block_size: int | str | None) -> keras.Model:
    """A copy of `model` (same weights) whose attention runs in blocks of
    `attention_block_size` tokens (`PositionalAttention`), with memory that
    grows linearly with the length: to evaluate or train a model far beyond
    the length it was built for. `None` gives back all-at-once attention,
    `"auto"` blocks beyond a length.

    Every `PositionalAttention` and `DecoderBlock` of the functional graph
    is changed; the outputs are equal to float32 rounding.
    """
    check_block_size(attention_block_size)
    config, changed = model.get_config(), 0
    for layer_config in config["layers"]:
        if layer_config["class_name"] in ("PositionalAttention", "DecoderBlock"):
            layer_config["config"]["attention_block_size"] = attention_block_size
            changed += 1
    if not changed:
        raise ValueError(f"Model {model.name!r} has no PositionalAttention or DecoderBlock layer.")
    copy = type(model).from_config(config)
    # Through a weights file: it matches variables by the layers that hold
    # them, where a flat weight list follows the order they were created in,
    # which differs for a bias layer built inside a block.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.weights.h5")
        model.save_weights(path)
        copy.load_weights(path)
    return copy
