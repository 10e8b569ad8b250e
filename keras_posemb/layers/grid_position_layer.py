"""The base of the layers that add a 2-D position encoding to image patches."""

from __future__ import annotations

import keras
from keras import ops

from keras_posemb._args import check_int
from keras_posemb.layers._grid import check_grid_size, resolve_grid
from keras_posemb.layers._positions import check_dense, docstring_part, dtype_name

CALL_ARGUMENTS = """Call arguments:
        inputs: float tensor `(batch, rows, cols, features)`, or the patches
            flattened row by row after the prefix tokens,
            `(batch, num_prefix_tokens + rows * cols, features)`.
        grid_size: optional `(rows, cols)` of flattened inputs; defaults to
            the layer's `grid_size`. Must be known when the model is built.

    A padding mask passes through unchanged."""

with_grid_call_arguments = docstring_part("call_arguments", CALL_ARGUMENTS)


class GridPositionLayer(keras.layers.Layer):
    """Base class: resolves the grid of the inputs, then adds the encoding.

    Subclasses implement `grid_encoding(rows, cols, dtype)`, a tensor
    `(rows, cols, width)`, and may override `prefix_encoding(dtype)`, one of
    `(num_prefix_tokens, width)` (zeros unless the prefix tokens have their
    own embeddings).
    """

    def __init__(
        self, grid_size: tuple[int, int] | None = None, num_prefix_tokens: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        self.grid_size = check_grid_size("grid_size", grid_size)
        self.num_prefix_tokens = check_int("num_prefix_tokens", num_prefix_tokens, minimum=0)
        self.supports_masking = True
        self.width = None

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def __call__(self, inputs, *args, **kwargs):
        check_dense(inputs, self._who())
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        self._grid(input_shape)
        if input_shape[-1] is None:
            raise ValueError(
                f"{self._who()} needs a known last (feature) dimension of `inputs`; received "
                f"inputs.shape={tuple(input_shape)}."
            )
        self.width = int(input_shape[-1])

    def call(self, inputs, grid_size=None):
        if "float" not in dtype_name(inputs):
            raise ValueError(
                f"{self._who()} expects floating-point `inputs` (patch embeddings); received "
                f"inputs.dtype={dtype_name(inputs)}."
            )
        if inputs.shape[-1] != self.width:
            raise ValueError(
                f"{self._who()} was built for inputs with {self.width} features; received "
                f"inputs.shape={tuple(inputs.shape)}."
            )
        grid_size = check_grid_size("grid_size", grid_size)
        rows, cols = self._grid(inputs.shape, grid_size)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        encoding = self.grid_encoding(rows, cols, dtype)
        if len(inputs.shape) == 3:
            encoding = ops.reshape(encoding, (rows * cols, self.width))
            if self.num_prefix_tokens:
                encoding = ops.concatenate([self.prefix_encoding(dtype), encoding], axis=0)
        return inputs + ops.cast(encoding, inputs.dtype)

    def _grid(self, shape, grid_size=None):
        """`(rows, cols)` of inputs of `shape`: a 4-D shape's own, else the
        call's `grid_size` or the layer's."""
        if len(shape) == 3:
            grid_size = grid_size or self.grid_size
        return resolve_grid(self._who(), shape, grid_size, self.num_prefix_tokens)

    def prefix_encoding(self, dtype):
        return ops.zeros((self.num_prefix_tokens, self.width), dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens})
        return config
