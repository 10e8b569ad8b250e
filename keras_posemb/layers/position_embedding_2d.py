from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_bool
from keras_posemb._memory import check_fits
from keras_posemb.layers._grid import check_grid_size
from keras_posemb.layers.grid_position_layer import GridPositionLayer, with_grid_call_arguments
from keras_posemb.numerics import resample


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_grid_call_arguments
class PositionEmbedding2D(GridPositionLayer):
    """Learned 2-D position embedding: one trainable vector per patch of a grid.

    Keeps a `(rows, cols, features)` table (and one vector per prefix token,
    such as a class token) and returns `inputs + table`, as ViT does with
    its flattened table. On a grid of another size (a model used at another
    image resolution) the table is resampled, by default automatically at
    call time: bicubic or bilinear, antialiased when shrinking, pixel
    centres aligned (`keras_posemb.numerics.resample`; timm's `resample_abs_pos_embed`
    does the same with PyTorch's cubic kernel, a = -0.75, where this uses
    Pillow's and TensorFlow's a = -0.5). Prefix embeddings are never
    interpolated. On the table's own grid, the table is used as it is.

    Args:
        grid_size: `(rows, cols)` of the table.
        num_prefix_tokens: tokens before the patches in flattened inputs,
            each with its own learned vector. Defaults to `0`.
        interpolation: `"bicubic"` (default) or `"bilinear"`.
        antialias: widen the kernel when shrinking. Defaults to `True`.
        resample_at_call: resample when the inputs' grid differs from
            `grid_size`; if `False`, such inputs raise an error. Defaults to
            `True`.
        initializer: Keras initializer for the tables. Defaults to a
            truncated normal with standard deviation 0.02 (ViT's).
        regularizer: optional Keras regularizer for the tables.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    {call_arguments}

    Example:

    ```python
    patches = keras.layers.Conv2D(192, 16, strides=16)(images)  # (b, 14, 14, 192)
    patches = keras_posemb.PositionEmbedding2D(grid_size=(14, 14))(patches)
    # The same weights on 448 x 448 images: the table is resampled to 28 x 28.
    ```

    References:
        - [Dosovitskiy et al., 2021](https://arxiv.org/abs/2010.11929) (ViT, section 3.2)
    """

    def __init__(
        self,
        grid_size: tuple[int, int],
        num_prefix_tokens: int = 0,
        interpolation: str = "bicubic",
        antialias: bool = True,
        resample_at_call: bool = True,
        initializer: Any = None,
        regularizer: Any = None,
        **kwargs,
    ):
        super().__init__(
            check_grid_size("grid_size", grid_size, required=True), num_prefix_tokens, **kwargs
        )
        self.interpolation = interpolation
        resample.check_interpolation(interpolation, grid=True)
        self.antialias = check_bool("antialias", antialias)
        self.resample_at_call = check_bool("resample_at_call", resample_at_call)
        if initializer is None:
            initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)
        self.regularizer = keras.regularizers.get(regularizer)

    def build(self, input_shape):
        super().build(input_shape)
        rows, cols = self.grid_size
        check_fits(
            "grid_size", self.grid_size, 4 * rows * cols * self.width,
            f"a float32 table of {rows:,} x {cols:,} x {self.width} values",
        )  # fmt: skip
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(rows, cols, self.width),
            initializer=self.initializer,
            regularizer=self.regularizer,
        )
        self.prefix_embeddings = None
        if self.num_prefix_tokens:
            self.prefix_embeddings = self.add_weight(
                name="prefix_embeddings",
                shape=(self.num_prefix_tokens, self.width),
                initializer=self.initializer,
                regularizer=self.regularizer,
            )

    def _matrix(self, old, new):
        kernel = resample.check_interpolation(self.interpolation, grid=True)
        return resample.resize_matrix(old, new, kernel, self.antialias).astype("float32")

    def grid_encoding(self, rows, cols, dtype):
        table = ops.convert_to_tensor(self.embeddings)
        if (rows, cols) != self.grid_size:
            if not self.resample_at_call:
                raise ValueError(
                    f"{self._who()} has a {self.grid_size[0]} x {self.grid_size[1]} table and "
                    f"received a {rows} x {cols} grid, with resample_at_call=False. Resample "
                    "the table first (layer.resample(grid_size)), or make the layer with "
                    "resample_at_call=True."
                )
            # Separable: rows, then columns; float32 matrices, float64-built.
            table = ops.einsum("ri,icd->rcd", self._matrix(self.grid_size[0], rows), table)
            table = ops.einsum("cj,rjd->rcd", self._matrix(self.grid_size[1], cols), table)
        return ops.cast(table, dtype)

    def prefix_encoding(self, dtype):
        return ops.cast(ops.convert_to_tensor(self.prefix_embeddings), dtype)

    def resampled_table(self, grid_size, interpolation=None, antialias=None) -> np.ndarray:
        """The grid table resampled to `grid_size`, float64 NumPy; by default
        with the layer's `interpolation` and `antialias`."""
        grid_size = check_grid_size("grid_size", grid_size, required=True)
        if not self.built:
            raise ValueError(f"{self._who()} has no table to resample before it is built.")
        interpolation = self.interpolation if interpolation is None else interpolation
        antialias = self.antialias if antialias is None else check_bool("antialias", antialias)
        kernel = resample.check_interpolation(interpolation, grid=True)
        table = ops.convert_to_numpy(self.embeddings)
        return resample.resample_table(table, grid_size, kernel, antialias, "grid_size")

    def resample(self, grid_size) -> PositionEmbedding2D:
        """A new, built layer like this one with its table resampled to
        `grid_size` (the prefix embeddings copied)."""
        table = self.resampled_table(grid_size)
        layer = type(self).from_config({**self.get_config(), "grid_size": tuple(grid_size)})
        rows, cols = layer.grid_size
        layer.build((None, self.num_prefix_tokens + rows * cols, self.width))
        prefix = [] if self.prefix_embeddings is None else [self.get_weights()[1]]
        layer.set_weights([table, *prefix])
        return layer

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "interpolation": self.interpolation,
                "antialias": self.antialias,
                "resample_at_call": self.resample_at_call,
                "initializer": keras.initializers.serialize(self.initializer),
                "regularizer": keras.regularizers.serialize(self.regularizer),
            }
        )
        return config
