from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_int
from keras_posemb._memory import check_fits
from keras_posemb.layers.position_layer import PositionLayer, with_call_arguments
from keras_posemb.numerics import resample, sinusoid


@keras.saving.register_keras_serializable(package="keras_posemb")
class SinusoidalInitializer(keras.initializers.Initializer):
    """Initializes a `(length, width)` table with the sinusoidal encoding.

    Row `p` is the encoding of position `p`, exactly as `SinusoidalEncoding`
    computes it (rounded once from float64), so a learned table can start
    from the fixed one.

    Args:
        max_wavelength: positive finite number, the 10000 of the formula.
        layout: `"interleaved"` or `"concatenated"`, as in
            `SinusoidalEncoding`.

    Example:

    ```python
    layer = keras_posemb.PositionEmbedding(
        max_length=512, initializer=keras_posemb.SinusoidalInitializer()
    )
    ```
    """

    def __init__(self, max_wavelength: float = 10000, layout: str = "interleaved"):
        self.max_wavelength = sinusoid.check_max_wavelength(max_wavelength)
        self.layout = sinusoid.check_layout(layout)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                "SinusoidalInitializer makes (length, width) tables; received "
                f"shape={tuple(shape)}."
            )
        table = sinusoid.sinusoidal_table(shape[0], shape[1], self.max_wavelength, self.layout)
        return ops.convert_to_tensor(table, dtype or "float32")

    def get_config(self):
        return {"max_wavelength": self.max_wavelength, "layout": self.layout}


def _get_initializer(initializer):
    if initializer == "sinusoidal":
        return SinusoidalInitializer()
    try:
        return keras.initializers.get(initializer)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "Argument `initializer` must be a Keras initializer, its name, or "
            f'"sinusoidal"; received initializer={initializer!r}.'
        ) from error


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_call_arguments
class PositionEmbedding(PositionLayer):
    """Learned position embedding: one trainable vector per position.

    Keeps a `(max_length, features)` table, created in `build` from the last
    dimension of the input, and by default returns
    `inputs + table[positions]`, as in BERT and GPT-2.

    Positions outside `[0, max_length)` raise an error that names the
    lengths: in Python when the positions are known while tracing (always in
    eager mode, and for the default positions whenever the sequence length is
    static), through `tf.debugging.Assert` in a TensorFlow graph otherwise.
    XLA drops assertions, so under `jit_compile=True` an out-of-range
    position that is only known at run time yields NaN (never a clamped row
    or zeros, which is what gathers do there).

    Args:
        max_length: positive int, the number of positions in the table.
        initializer: Keras initializer (or its name) for the table, or
            `"sinusoidal"` to start from the sinusoidal encoding. Defaults to
            `"glorot_uniform"`.
        regularizer: optional Keras regularizer for the table.
        constraint: optional Keras constraint for the table.
        scale_inputs: if `True`, multiply the inputs by `sqrt(features)`
            before adding the embedding, as `SinusoidalEncoding` does for
            section 3.4 of Vaswani et al. Defaults to `False`.
        add_to_inputs: if `True` (default) return `inputs + embedding`; if
            `False` return the embedding alone, broadcast to the input's
            shape.
        **kwargs: other keyword arguments of `keras.layers.Layer`, such as
            `name` and `dtype`.

    {call_arguments}

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(token_ids)
    x = keras_posemb.PositionEmbedding(max_length=512)(x)
    ```

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """

    def __init__(
        self,
        max_length: int,
        initializer: Any = "glorot_uniform",
        regularizer: Any = None,
        constraint: Any = None,
        scale_inputs: bool = False,
        add_to_inputs: bool = True,
        **kwargs,
    ):
        super().__init__(scale_inputs=scale_inputs, add_to_inputs=add_to_inputs, **kwargs)
        self.max_length = check_int("max_length", max_length)
        self.initializer = _get_initializer(initializer)
        self.regularizer = keras.regularizers.get(regularizer)
        self.constraint = keras.constraints.get(constraint)

    @property
    def max_position(self):
        return self.max_length

    def build(self, input_shape):
        super().build(input_shape)
        check_fits(
            "max_length", self.max_length, 4 * self.max_length * self.width,
            f"a float32 table of {self.max_length:,} x {self.width} values",
        )  # fmt: skip
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_length, self.width),
            initializer=self.initializer,
            regularizer=self.regularizer,
            constraint=self.constraint,
        )

    def encode(self, positions, dtype):
        table = ops.convert_to_tensor(self.embeddings)
        return ops.cast(ops.take(table, positions, axis=0), dtype)

    def encode_range(self, start, length, dtype):
        if not isinstance(start, int):
            # XLA needs slice starts at compile time; a gather takes tensors.
            return super().encode_range(start, length, dtype)
        # The variable's value, not the variable: JAX refuses to slice it.
        table = ops.convert_to_tensor(self.embeddings)
        return ops.cast(ops.slice(table, [start, 0], [length, self.width]), dtype)

    def resampled_table(
        self, max_length: int, interpolation: str = "linear", antialias: bool = True
    ) -> np.ndarray:
        """The table interpolated to `max_length` rows, float64 NumPy (see
        `keras_posemb.numerics.resample`): row `i` reads the trained table at
        `(i + 0.5) * self.max_length / max_length - 0.5`."""
        if not self.built:
            raise ValueError(f"{self._who()} has no table to resample before it is built.")
        table = keras.ops.convert_to_numpy(self.embeddings)
        return resample.resample_table(table, max_length, interpolation, antialias, "max_length")

    def resample(
        self, max_length: int, interpolation: str = "linear", antialias: bool = True
    ) -> PositionEmbedding:
        """A new, built layer like this one whose table has `max_length` rows,
        interpolated from this one's (`linear` or `cubic`). To resample the
        table inside a saved model, use
        `keras_posemb.models.resampling.resample_position_embedding`."""
        table = self.resampled_table(max_length, interpolation, antialias)
        layer = type(self).from_config({**self.get_config(), "max_length": max_length})
        layer.build((None, None, self.width))
        layer.set_weights([table])
        return layer

    def _limit_hint(self):
        return f" (max_length={self.max_length}: start_index + sequence length must not exceed it)"

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "initializer": keras.initializers.serialize(self.initializer),
                "regularizer": keras.regularizers.serialize(self.regularizer),
                "constraint": keras.constraints.serialize(self.constraint),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        if "max_length" not in config:
            raise ValueError(
                "PositionEmbedding config is missing the required field "
                f"'max_length'; received keys {sorted(config)}."
            )
        return super().from_config(config)
