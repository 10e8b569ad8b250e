from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_posemb.layers.grid_position_layer import GridPositionLayer, with_grid_call_arguments
from keras_posemb.numerics import sinusoid


def sinusoidal_grid_table(
    rows: int, cols: int, width: int, max_wavelength: float = 10000, layout: str = "concatenated"
) -> np.ndarray:
    """The 2-D sine-cosine encoding of a `rows x cols` grid, float64
    `(rows, cols, width)`: the first `width / 2` channels are the 1-D
    sinusoidal encoding of the row, the others that of the column."""
    half = width // 2
    row = sinusoid.sinusoidal_table(rows, half, max_wavelength, layout)
    col = sinusoid.sinusoidal_table(cols, half, max_wavelength, layout)
    return np.concatenate(
        [
            np.broadcast_to(row[:, None], (rows, cols, half)),
            np.broadcast_to(col, (rows, cols, half)),
        ],
        axis=-1,
    )


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_grid_call_arguments
class SinusoidalEncoding2D(GridPositionLayer):
    """Fixed 2-D sine-cosine encoding of a grid of patches (MAE, timm).

    Half of the `d` channels encode the patch's row and half its column,
    each with the 1-D formula of "Attention Is All You Need" at width
    `d / 2`:

        PE(row, col) = [PE_1d(row) ; PE_1d(col)],
        PE_1d(p)[2i], PE_1d(p)[2i + 1] = sin, cos(p / max_wavelength^(2i / (d/2))).

    With the default `layout="concatenated"` (each half all sines, then all
    cosines) this is timm's `build_sincos2d_pos_embed` channel for channel;
    MAE's `get_2d_sincos_pos_embed` puts the column half first. Prefix tokens
    (a class token) get zeros, as in MAE. The table is computed in float64
    and rounded once, so it is exact to half a unit in the last place of the
    compute dtype. The layer has no weights and takes any grid.

    Args:
        grid_size: optional `(rows, cols)` for flattened inputs.
        num_prefix_tokens: tokens before the patches in flattened inputs.
            Defaults to `0`.
        max_wavelength: positive finite number, the 10000 of the formula.
        layout: `"concatenated"` (default) or `"interleaved"`, within each half.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    {call_arguments}

    Example:

    ```python
    patches = keras.layers.Conv2D(192, 16, strides=16)(images)  # (b, 14, 14, 192)
    patches = keras_posemb.SinusoidalEncoding2D()(patches)
    ```

    References:
        - [He et al., 2022](https://arxiv.org/abs/2111.06377) (MAE)
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(
        self,
        grid_size: tuple[int, int] | None = None,
        num_prefix_tokens: int = 0,
        max_wavelength: float = 10000,
        layout: str = "concatenated",
        **kwargs,
    ):
        super().__init__(grid_size, num_prefix_tokens, **kwargs)
        self.max_wavelength = sinusoid.check_max_wavelength(max_wavelength)
        self.layout = sinusoid.check_layout(layout)

    def build(self, input_shape):
        super().build(input_shape)
        if self.width % 2:
            raise ValueError(
                f"{self._who()} gives half of the features to rows and half to columns, so it "
                f"needs an even number of features; received inputs.shape={tuple(input_shape)}."
            )

    def table(self, rows: int, cols: int) -> np.ndarray:
        """The float64 encoding `(rows, cols, width)`."""
        return sinusoidal_grid_table(rows, cols, self.width, self.max_wavelength, self.layout)

    def grid_encoding(self, rows, cols, dtype):
        # Rounded once from float64, also under mixed precision.
        table = self.table(rows, cols).astype("float64" if dtype == "float64" else "float32")
        return ops.cast(ops.convert_to_tensor(table), dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength, "layout": self.layout})
        return config
