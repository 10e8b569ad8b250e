import keras
from keras import ops

from keras_posemb._args import check_int


@keras.saving.register_keras_serializable(package="keras_posemb")
class PaddingMask(keras.layers.Layer):
    """Boolean mask of the real tokens: `token_ids != padding_id`.

    The encoder passes this mask explicitly to every attention layer and to
    the pooling instead of relying on the mask that Keras attaches to
    tensors: `MultiHeadAttention` deletes that mask from its input tensor,
    so a residual connection around it would silently drop it (Keras 3.15).

    Args:
        padding_id: the token id that marks padding. Defaults to `0`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        token_ids: integer tensor `(batch, sequence)`.

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    mask = keras_posemb.modeling.PaddingMask()(token_ids)
    ```
    """

    def __init__(self, padding_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.padding_id = check_int("padding_id", padding_id, minimum=0)

    def call(self, token_ids):
        return ops.not_equal(token_ids, self.padding_id)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config["padding_id"] = self.padding_id
        return config
