from __future__ import annotations

import keras

from keras_posemb.layers._angles import AngleTable
from keras_posemb.layers.position_layer import PositionLayer, with_call_arguments
from keras_posemb.numerics import sinusoid
from keras_posemb.numerics.angles import MAX_POSITION


@keras.saving.register_keras_serializable(package="keras_posemb")
@with_call_arguments
class SinusoidalEncoding(PositionLayer):
    """Fixed sinusoidal position encoding, added to token embeddings.

    Computes the encoding of "Attention Is All You Need" (section 3.5),

        PE(pos, 2i)     = sin(pos / max_wavelength^(2i / d))
        PE(pos, 2i + 1) = cos(pos / max_wavelength^(2i / d)),

    for the `d` features of the input and, by default, returns
    `inputs + PE`. The layer has no weights.

    The encoding is accurate to about one unit in the last place of float32
    for every position below 262,144 (the largest supported position is
    262,143): it is assembled from two small tables computed in float64 by
    angle addition, instead of from float32 angles `pos * frequency`, which
    lose about 6e-3 at position 100,000. Under `mixed_float16` and
    `mixed_bfloat16` policies it is computed in float32 and rounded once to
    the compute dtype.

    With an odd feature width `d` there is one more sine than cosine:
    channel `d - 1` is the sine of frequency `(d - 1) / 2` in the interleaved
    layout, and the concatenated layout has `(d + 1) / 2` sines followed by
    `(d - 1) / 2` cosines.

    Args:
        max_wavelength: positive finite number, the 10000 of the formula. Defaults to
            `10000`.
        layout: `"interleaved"` (sin on even channels, cos on odd ones, as in
            the paper) or `"concatenated"` (all sines, then all cosines, as in
            tensor2tensor and the TensorFlow transformer tutorial). Defaults to
            `"interleaved"`.
        scale_inputs: if `True`, multiply the inputs by `sqrt(d)` before
            adding the encoding (section 3.4 of the paper). Defaults to
            `False`.
        add_to_inputs: if `True` (default) return `inputs + encoding`; if
            `False` return the encoding alone, broadcast to the input's shape.
        **kwargs: other keyword arguments of `keras.layers.Layer`, such as
            `name` and `dtype`.

    {call_arguments}

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(token_ids)
    x = keras_posemb.SinusoidalEncoding()(x)  # x + PE, mask kept
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    max_position = MAX_POSITION

    def __init__(
        self,
        max_wavelength: float = 10000,
        layout: str = "interleaved",
        scale_inputs: bool = False,
        add_to_inputs: bool = True,
        **kwargs,
    ):
        super().__init__(scale_inputs=scale_inputs, add_to_inputs=add_to_inputs, **kwargs)
        self.max_wavelength = sinusoid.check_max_wavelength(max_wavelength)
        self.layout = sinusoid.check_layout(layout)

    def build(self, input_shape):
        super().build(input_shape)
        frequencies, phases = sinusoid.channel_frequencies_and_phases(
            self.width, self.max_wavelength, self.layout
        )
        self._angles = AngleTable(frequencies, phases)

    def encode_range(self, start, length, dtype):
        return self._angles.contiguous(start, length, dtype)

    def encode(self, positions, dtype):
        return self._angles.gather(positions, dtype)

    def _limit_hint(self):
        return " (the largest position the sinusoidal tables cover)"

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "layout": self.layout,
            }
        )
        return config
