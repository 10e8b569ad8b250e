from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_posemb")
class ClassToken(keras.layers.Layer):
    """Puts one learned vector before the tokens: ViT's `[class]` token.

    `(batch, tokens, features)` in, `(batch, 1 + tokens, features)` out.

    Args:
        **kwargs: keyword arguments of `keras.layers.Layer`.

    Example:

    ```python
    patches = keras.layers.Reshape((196, 192))(patch_grid)
    tokens = keras_posemb.modeling.ClassToken()(patches)  # (batch, 197, 192)
    ```

    References:
        - [Dosovitskiy et al., 2021](https://arxiv.org/abs/2010.11929)
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"ClassToken {self.name!r} expects `inputs` of shape (batch, tokens, features) "
                f"with known features; received inputs.shape={tuple(input_shape)}."
            )
        self.token = self.add_weight(
            name="token",
            shape=(1, 1, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def call(self, inputs):
        token = ops.cast(ops.convert_to_tensor(self.token), inputs.dtype)
        token = ops.broadcast_to(token, (ops.shape(inputs)[0], 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])
