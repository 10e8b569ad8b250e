import keras
from keras import ops

from keras_posemb._args import check_choice

MODES = ("mean", "max", "first")


@keras.saving.register_keras_serializable(package="keras_posemb")
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, sequence, features)` to `(batch, features)`, honouring the mask.

    Padded positions (mask `False`) never reach the output: `"mean"` averages
    the unmasked positions, `"max"` takes the largest unmasked value, and
    `"first"` returns the first position (a `[CLS]`-style summary). A
    sequence that is all padding pools to zeros. Keras'
    own `GlobalMaxPooling1D` drops the mask, hence this layer.

    Args:
        mode: `"mean"`, `"max"` or `"first"`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, sequence, features)`.
        mask: optional boolean tensor `(batch, sequence)`; passed by Keras
            from the layer before.

    Example:

    ```python
    x = keras.layers.Embedding(100, 8, mask_zero=True)(token_ids)
    pooled = keras_posemb.modeling.SequencePooling("max")(x)
    ```
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if self.mode == "first":
            return inputs[:, 0, :]
        if mask is None:
            reduce = ops.mean if self.mode == "mean" else ops.max
            return reduce(inputs, axis=1)
        mask = ops.expand_dims(ops.cast(mask, "bool"), axis=-1)
        if self.mode == "mean":
            weights = ops.cast(mask, inputs.dtype)
            count = ops.maximum(ops.sum(weights, axis=1), 1)
            return ops.sum(ops.where(mask, inputs, 0), axis=1) / count
        largest = ops.max(ops.where(mask, inputs, float("-inf")), axis=1)
        # An all-padding sequence pools to zeros, as with "mean".
        return ops.where(ops.any(mask, axis=1), largest, 0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config
