from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_bool, check_choice, check_int
from keras_posemb.errors import ArgumentError, Setting
from keras_posemb.layers._grid import check_grid_size, coordinates
from keras_posemb.layers._positions import check_dense, dtype_name
from keras_posemb.layers.rotary_embedding import LAYOUTS, rotate_pairs
from keras_posemb.numerics import sinusoid
from keras_posemb.numerics.rope_scaling import default_frequencies

# Heo et al.'s bases: 100 for axial frequencies, 10 to start the mixed ones.
DEFAULT_WAVELENGTH = {False: 100.0, True: 10.0}


def axis_frequencies(head_dim: int, max_wavelength: float) -> np.ndarray:
    """The `head_dim / 4` frequencies of each axis, float64:
    `max_wavelength^(-4k / head_dim)`."""
    return default_frequencies(head_dim // 2, max_wavelength)


@keras.saving.register_keras_serializable(package="keras_posemb")
class MixedRotaryInitializer(keras.initializers.Initializer):
    """Starts RoPE-Mixed's `(2, heads, pairs)` frequencies as Heo et al. do.

    Each head gets a random direction `phi`; its first half of pairs turns
    with the frequencies `f_k = max_wavelength^(-4k / head_dim)` along
    `(cos phi, sin phi)` in (row, column), the second half along the
    perpendicular direction. With `phi = 0` a head is axial.
    """

    def __init__(self, max_wavelength: float = 10.0, seed: int | None = None):
        self.max_wavelength = sinusoid.check_max_wavelength(max_wavelength)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        if len(shape) != 3 or shape[0] != 2 or shape[2] % 2:
            raise ValueError(
                "MixedRotaryInitializer makes (2, heads, pairs) tables with an even number of "
                f"pairs; received shape={tuple(shape)}."
            )
        heads, pairs = shape[1], shape[2]
        magnitude = ops.convert_to_tensor(
            axis_frequencies(2 * pairs, self.max_wavelength), "float32"
        )
        phi = keras.random.uniform((heads, 1), 0, 2 * math.pi, seed=self.seed)
        row = ops.concatenate(
            [magnitude * ops.cos(phi), magnitude * ops.cos(phi + math.pi / 2)], -1
        )
        col = ops.concatenate(
            [magnitude * ops.sin(phi), magnitude * ops.sin(phi + math.pi / 2)], -1
        )
        return ops.cast(ops.stack([row, col]), dtype or "float32")

    def get_config(self):
        return {"max_wavelength": self.max_wavelength, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_posemb")
class RotaryEmbedding2D(keras.layers.Layer):
    """2-D rotary position embedding for image patches (RoPE-Axial, RoPE-Mixed).

    Rotates feature pairs of queries and keys by the patch's place on the
    grid, so that attention logits depend on the 2-D offset between patches.
    Axial (Heo et al., section 3.2): the first half of each head's pairs
    turns with the row, the second half with the column, each with
    frequencies `f_k = max_wavelength^(-4k / head_dim)`:

        theta(row, col, k) = row * f_k,  theta(row, col, head_dim/4 + k) = col * f_k.

    Mixed (`mixed=True`, their RoPE-Mixed): every pair of every head turns by
    `row * F_row[h, k] + col * F_col[h, k]` with learned frequencies
    (`MixedRotaryInitializer`), so a head can attend along diagonals.

    Prefix tokens (a class token) are not rotated. Positions are patch
    indices, so a larger grid extends the positions (Heo et al.'s
    extrapolation) rather than squeezing them. Axial angles are computed in
    float64 and rounded once; mixed ones are float32 products of the learned
    frequencies. Put it inside `PositionalAttention` (the registry's
    `rotary_2d` and `rotary_mixed`), which passes the heads' queries and keys.

    Args:
        grid_size: `(rows, cols)` of the patches.
        num_prefix_tokens: tokens before the patches. Defaults to `0`.
        mixed: learned mixed frequencies instead of axial ones.
        max_wavelength: the base of the frequencies; defaults to 100 (axial)
            or 10 (mixed), as in Heo et al.
        layout: `"half"` (default) or `"interleaved"` pairs, as in
            `RotaryEmbedding`.
        seed: seed of the mixed frequencies' random directions.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, prefix + rows * cols, heads,
            head_dim)`, or `(batch, prefix + rows * cols, features)` (axial
            only); `head_dim` a multiple of 4.
        start_index: must be `0`: an image is not decoded token by token.

    Example:

    ```python
    rotary = keras_posemb.RotaryEmbedding2D(grid_size=(14, 14), num_prefix_tokens=1)
    x = x + keras_posemb.PositionalAttention(4, 48, position=rotary)(x)
    ```

    References:
        - [Heo et al., 2024](https://arxiv.org/abs/2403.13298)
        - [Su et al., 2021](https://arxiv.org/abs/2104.09864)
    """

    # Inside `PositionalAttention`, it rotates the queries and the keys.
    attention_role = "queries_and_keys"

    def __init__(
        self,
        grid_size: tuple[int, int],
        num_prefix_tokens: int = 0,
        mixed: bool = False,
        max_wavelength: float | None = None,
        layout: str = "half",
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid_size = check_grid_size("grid_size", grid_size, required=True)
        self.num_prefix_tokens = check_int("num_prefix_tokens", num_prefix_tokens, minimum=0)
        self.mixed = check_bool("mixed", mixed)
        self.max_wavelength = max_wavelength
        if max_wavelength is not None:
            sinusoid.check_max_wavelength(max_wavelength)
        self.layout = check_choice("layout", layout, LAYOUTS)
        self.seed = seed if seed is None else check_int("seed", seed, minimum=0)
        self.supports_masking = True
        self.width = None

    @property
    def base(self) -> float:
        return (
            DEFAULT_WAVELENGTH[self.mixed] if self.max_wavelength is None else self.max_wavelength
        )

    @property
    def length(self) -> int:
        rows, cols = self.grid_size
        return self.num_prefix_tokens + rows * cols

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def check_attention(self, num_heads: int, key_dim: int) -> None:
        """Raises `ArgumentError` unless each head's width is a multiple of 4."""
        if key_dim % 4:
            raise ArgumentError(
                "2-D rotary positions need a multiple of 4 features per head (pairs rotate, "
                f"half of them per axis); received {key_dim} features per head, with ",
                Setting("num_heads", num_heads), ".",
            )  # fmt: skip

    def __call__(self, inputs, *args, **kwargs):
        check_dense(inputs, self._who())
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) not in (3, 4) or (self.mixed and len(shape) != 4):
            expected = "(batch, tokens, heads, head_dim)" + (
                "" if self.mixed else " or (batch, tokens, features)"
            )
            raise ValueError(
                f"{self._who()} expects `inputs` of shape {expected}; received {shape}."
            )
        if shape[-1] is None or shape[-1] % 4:
            raise ValueError(
                f"{self._who()} needs a known last axis that is a multiple of 4 (pairs, half of "
                f"them per axis); received inputs.shape={shape}."
            )
        self.width = int(shape[-1])
        if self.mixed:
            if shape[2] is None:
                raise ValueError(f"{self._who()} needs a known number of heads; received {shape}.")
            self.frequencies = self.add_weight(
                name="frequencies",
                shape=(2, int(shape[2]), self.width // 2),
                initializer=MixedRotaryInitializer(self.base, self.seed),
                autocast=False,  # Angles in float32, also under mixed precision.
            )

    def axial_angles(self) -> np.ndarray:
        """The axial angle of each token and pair, float64 `(tokens, pairs)`."""
        rows, cols = coordinates(*self.grid_size, self.num_prefix_tokens)
        frequencies = axis_frequencies(self.width, self.base)
        return np.concatenate([np.outer(rows, frequencies), np.outer(cols, frequencies)], axis=1)

    def call(self, inputs, start_index=0):
        if "float" not in dtype_name(inputs):
            raise ValueError(
                f"{self._who()} expects floating-point `inputs`; received "
                f"inputs.dtype={dtype_name(inputs)}."
            )
        if not (isinstance(start_index, int) and start_index == 0):
            raise ValueError(
                f"{self._who()} rotates a whole grid of patches at once; `start_index` must be 0 "
                f"(no cached decoding of images); received start_index={start_index!r}."
            )
        if inputs.shape[1] is not None and inputs.shape[1] != self.length:
            rows, cols = self.grid_size
            raise ValueError(
                f"{self._who()}: inputs.shape={tuple(inputs.shape)} has {inputs.shape[1]} tokens; "
                f"grid_size={self.grid_size} with num_prefix_tokens={self.num_prefix_tokens} "
                f"needs {self.num_prefix_tokens} + {rows} * {cols} = {self.length}."
            )
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if self.mixed:
            rows, cols = (
                ops.convert_to_tensor(c, "float32")
                for c in coordinates(*self.grid_size, self.num_prefix_tokens)
            )
            table = ops.convert_to_tensor(self.frequencies)
            angles = rows[:, None, None] * table[0] + cols[:, None, None] * table[1]
            sin, cos = ops.sin(angles), ops.cos(angles)
        else:
            angles = self.axial_angles()
            table_dtype = "float64" if dtype == "float64" else "float32"
            sin, cos = (
                ops.convert_to_tensor(f(angles).astype(table_dtype)) for f in (np.sin, np.cos)
            )
            if len(inputs.shape) == 4:
                sin, cos = sin[:, None], cos[:, None]
        return rotate_pairs(inputs, ops.cast(sin, dtype), ops.cast(cos, dtype), self.layout)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "num_prefix_tokens": self.num_prefix_tokens,
                "mixed": self.mixed,
                "max_wavelength": self.max_wavelength,
                "layout": self.layout,
                "seed": self.seed,
            }
        )
        return config
