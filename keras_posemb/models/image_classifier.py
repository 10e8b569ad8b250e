"""A Vision Transformer image classifier with a pluggable position family.

`build_image_classifier` makes it (patches by a strided convolution, an
optional class token, the encoder blocks of the text classifier);
`models.resampling.resize_image_classifier` makes the same model for another image size, the
learned tables resampled, to study or use a model at another resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_posemb import families
from keras_posemb._args import check_choice, check_divisible, check_int, check_number
from keras_posemb._memory import check_fits
from keras_posemb.errors import argument_error
from keras_posemb.modeling import ClassToken, SequencePooling, transformer_encoder_block

POOLINGS = ("class", "mean")


def _check_image_size(image_size, patch_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise argument_error("image_size", image_size, "an int or a pair of ints (height, width)")
    for side in size:
        check_int("image_size", side)
        if side % patch_size:
            raise argument_error(
                "image_size", image_size, f"sides that are multiples of patch_size={patch_size}"
            )
    return int(size[0]), int(size[1])


# float32 (heads, tokens, tokens) tensors of one image's attention at once:
# the logits and the softmax weights.
ATTENTION_TENSORS = 2


def _check_attention_fits(image_size, settings) -> None:
    """Refuses an image size whose attention over the patches cannot fit in
    memory for a single image (it grows with the fourth power of the side)."""
    tokens = settings.max_length
    check_fits(
        "image_size", image_size, 4 * ATTENTION_TENSORS * settings.num_heads * float(tokens) ** 2,
        f"attention over {tokens:,} patches for one image",
    )  # fmt: skip


@keras.saving.register_keras_serializable(package="keras_posemb")
class ImageClassifier(keras.Model):
    """The functional model `build_image_classifier` returns: images in,
    class probabilities (or logits) out, images of another size or channel
    count refused. `arguments` holds the builder's arguments (in the saved
    config too), so that the same model is made at another image size
    (`resize_image_classifier`)."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.arguments: dict[str, Any] = {}

    @property
    def grid_size(self) -> tuple[int, int]:
        (rows, cols), patch = self.arguments["image_size"], self.arguments["patch_size"]
        return rows // patch, cols // patch

    def __call__(self, images, *args, **kwargs):
        self._check_images(images)
        return super().__call__(images, *args, **kwargs)

    # Arrays are checked before Keras' loops start: an error raised inside
    # JAX's compiled predict leaves the model's variables unusable.

    def fit(self, x=None, *args, **kwargs):
        self._check_images(x, arrays_only=True)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._check_images(x, arrays_only=True)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_images(x, arrays_only=True)
        return super().predict(x, *args, **kwargs)

    def _check_images(self, images, arrays_only=False):
        """Refuses images of another size or channel count, naming both
        shapes; one channel may come without its axis, as Keras allows."""
        if arrays_only and not hasattr(images, "shape"):
            return  # A data set or generator: its batches meet __call__.
        expected = (*self.arguments["image_size"], self.arguments["channels"])
        received = shape = tuple(getattr(images, "shape", ()))
        if expected[-1] == 1 and len(shape) == 3:
            shape = (*shape, 1)
        if len(shape) != 4 or any(s is not None and s != e for s, e in zip(shape[1:], expected)):
            raise ValueError(
                f"Model {self.name!r} takes images of shape (batch, {', '.join(map(str, expected))})"
                f"; received images of shape {received}. Resize the images, or the "
                "model with resize_image_classifier(model, image_size)."
            )

    def get_config(self):
        return {**super().get_config(), "arguments": dict(self.arguments)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" not in config:  # Saved before 0.3.0: the builder's arguments alone.
            return build_image_classifier(**config)
        config = dict(config)
        arguments = config.pop("arguments")
        model = super().from_config(config, custom_objects)
        model.arguments = {**arguments, "image_size": tuple(arguments["image_size"])}
        return model


def build_image_classifier(
    image_size: Any,
    patch_size: int,
    num_classes: int,
    position: str | Sequence[str] = "learned_2d",
    channels: int = 3,
    embed_dim: int = 64,
    num_heads: int = 4,
    ff_dim: int = 128,
    num_layers: int = 2,
    dropout: float = 0.1,
    pooling: str = "class",
    logits: bool = False,
    name: str = "image_classifier",
) -> ImageClassifier:
    """Builds a Vision Transformer image classifier (Dosovitskiy et al., 2021).

    Images `(batch, height, width, channels)` in, class probabilities (or
    logits) out. Non-overlapping `patch_size` patches are embedded by a
    strided convolution and flattened row by row; with `pooling="class"` a
    learned class token goes first and its output is classified, with
    `"mean"` the patches' outputs are averaged. Pre-norm encoder blocks (the
    text classifier's) follow, then a final layer normalization.

    Args:
        image_size: an int, or `(height, width)`; multiples of `patch_size`.
        patch_size: side of the square patches.
        num_classes: number of classes (2 or more).
        position: any family of `keras_posemb.families`: a grid family
            (`"learned_2d"`, `"sinusoidal_2d"`, `"rotary_2d"`,
            `"rotary_mixed"`) or a sequence family over the flattened patches
            (`"learned"`, `"sinusoidal"`, `"rotary"`, `"alibi"`, `"t5"`,
            `"none"`), the class token at position 0; or a list of
            `num_layers` names, one per block, of families inside attention
            or `"none"`.
        channels: image channels.
        embed_dim: patch embedding width.
        num_heads: attention heads; must divide `embed_dim` (and leave a
            multiple of 4 features per head for the rotary grid families).
        ff_dim: feed-forward hidden width.
        num_layers: number of encoder blocks.
        dropout: dropout rate in the blocks and after the embeddings.
        pooling: `"class"` or `"mean"`.
        logits: return logits instead of softmax probabilities.
        name: the model's name.

    Returns:
        An `ImageClassifier`; an embeddings position layer is named
        `POSITION_LAYER_NAME`.
    """
    check_int("patch_size", patch_size)
    rows, cols = _check_image_size(image_size, patch_size)
    grid = (rows // patch_size, cols // patch_size)
    for argument, value in [("channels", channels), ("embed_dim", embed_dim), ("ff_dim", ff_dim)]:
        check_int(argument, value)
    check_int("num_layers", num_layers)
    check_int("num_classes", num_classes, minimum=2)
    check_divisible("num_heads", num_heads, "embed_dim", embed_dim)
    check_number("dropout", dropout, 0, 1, high_open=True)
    check_choice("pooling", pooling, POOLINGS)
    prefix = 1 if pooling == "class" else 0
    settings = families.PositionSettings(
        embed_dim, num_heads, prefix + grid[0] * grid[1], grid_size=grid, num_prefix_tokens=prefix
    )
    positions = families.ModelPositions.for_model(position, settings, num_layers)
    _check_attention_fits(image_size, settings)

    images = keras.Input(shape=(rows, cols, channels), name="images")
    x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embedding")(
        images
    )
    x = keras.layers.Reshape((grid[0] * grid[1], embed_dim), name="patches")(x)
    if prefix:
        x = ClassToken(name="class_token")(x)
    x = positions.add_to_embeddings(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index in range(num_layers):
        x = transformer_encoder_block(
            x, None, num_heads, ff_dim, dropout, True, f"encoder_block_{index}",
            positions.inside_attention(index),
        )  # fmt: skip
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = SequencePooling("first" if prefix else "mean", name=f"{pooling}_pooling")(x)
    # float32 output keeps the loss stable under mixed precision.
    outputs = keras.layers.Dense(
        num_classes, activation=None if logits else "softmax", dtype="float32", name="classifier"
    )(x)
    model = ImageClassifier(images, outputs, name=name)
    model.arguments = {
        "image_size": (rows, cols),
        "patch_size": patch_size,
        "num_classes": num_classes,
        "position": position,
        "channels": channels,
        "embed_dim": embed_dim,
        "num_heads": num_heads,
        "ff_dim": ff_dim,
        "num_layers": num_layers,
        "dropout": dropout,
        "pooling": pooling,
        "logits": logits,
    }
    return model
