from __future__ import annotations

import keras
from keras import ops

from keras_posemb._args import check_number


@keras.saving.register_keras_serializable(package="keras_posemb")
class Scale(keras.layers.Layer):
    """Multiplies its inputs by a constant; masks pass through.

    The classifier scales token embeddings by `sqrt(d)` (section 3.4 of
    Vaswani et al.) with this layer. Keras' `Rescaling` would do the same
    arithmetic, but it is a preprocessing layer that calls TensorFlow, so a
    model holding it would not run on JAX or PyTorch without TensorFlow
    installed.

    Args:
        factor: finite number to multiply by.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor of any shape.

    Example:

    ```python
    x = keras.layers.Embedding(1000, 64, mask_zero=True)(token_ids)
    x = keras_posemb.modeling.Scale(8.0)(x)  # sqrt(64)
    ```
    """

    def __init__(self, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(check_number("factor", factor))
        self.supports_masking = True

    def call(self, inputs):
        return inputs * ops.cast(self.factor, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config
