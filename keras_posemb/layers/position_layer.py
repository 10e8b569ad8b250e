"""The base of the layers that add an absolute position encoding."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_bool
from keras_posemb.layers._positions import PositionArguments, docstring_part, dtype_name
from keras_posemb.layers._range_guard import poison

CALL_ARGUMENTS = """Call arguments:
        inputs: float tensor of shape `(batch, sequence, features)`; the
            sequence length may be unknown. Other ranks are refused: an
            image-shaped `(batch, rows, cols, features)` input would get one
            axis encoded and the other not.
        start_index: non-negative int or scalar integer tensor, the position
            of the first token (for cached decoding). Defaults to `0`.
        positions: optional integer tensor of shape `(sequence,)` or
            `(batch, sequence)` with explicit positions (for example to skip
            left padding). Replaces `start_index` when given.

    A padding mask on `inputs` (from `Embedding(mask_zero=True)`) passes
    through unchanged."""

# Subclasses' docstrings say `{call_arguments}` where these go.
with_call_arguments = docstring_part("call_arguments", CALL_ARGUMENTS)


class PositionLayer(PositionArguments, keras.layers.Layer):
    """Base class: validates inputs and positions, then adds the encoding.

    Subclasses set `max_position` (one more than the largest position they
    can encode) and implement `encode(positions, dtype)`, which maps integer
    positions of shape `(sequence,)` or `(batch, sequence)` to encodings of
    shape `positions.shape + (width,)`.
    """

    def __init__(self, scale_inputs: bool = False, add_to_inputs: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.scale_inputs = check_bool("scale_inputs", scale_inputs)
        self.add_to_inputs = check_bool("add_to_inputs", add_to_inputs)
        if scale_inputs and not add_to_inputs:
            raise ValueError(
                "Argument `scale_inputs=True` scales the inputs before the "
                "encoding is added, so it needs `add_to_inputs=True`; "
                "received add_to_inputs=False."
            )
        self.supports_masking = True
        self.width = None

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras converts NumPy inputs: a string array has no tensor
        # form on JAX or PyTorch, and the error would not be this layer's.
        if isinstance(inputs, np.ndarray):
            self._check_inputs_dtype(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        self._check_shape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(
                f"{self._who()} needs a known last (feature) dimension of "
                f"`inputs`; received inputs.shape={tuple(input_shape)}."
            )
        self.width = int(input_shape[-1])
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        self._check_inputs(inputs)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        length = ops.shape(inputs)[-2]
        start, positions, ok = self.resolve_positions(start_index, positions, length, inputs.shape)
        if positions is not None and len(positions.shape) == 2 and len(inputs.shape) != 3:
            raise ValueError(
                f"{self._who()}: `positions` of shape (batch, sequence) needs "
                f"`inputs` of rank 3; received inputs.shape={tuple(inputs.shape)}."
            )
        if positions is None:
            encoding = self.encode_range(start, length, dtype)
        else:
            encoding = self.encode(positions, dtype)
        encoding = poison(encoding, ok)
        for _ in range(len(inputs.shape) - len(encoding.shape)):
            encoding = ops.expand_dims(encoding, axis=-3)
        if not self.add_to_inputs:
            return ops.broadcast_to(encoding, ops.shape(inputs))
        if self.scale_inputs:  # Section 3.4 of Vaswani et al.
            inputs = inputs * ops.cast(math.sqrt(self.width), inputs.dtype)
        return inputs + encoding

    def compute_output_shape(self, input_shape):
        # Given, so that Keras need not trace `call` on symbolic shapes
        # (JAX's symbolic sequence length cannot be range-checked).
        return tuple(input_shape)

    def encode_range(self, start, length, dtype):
        """Encodings of positions `start .. start + length - 1`.

        Subclasses override this when contiguous positions have a cheaper
        path than a gather.
        """
        return self.encode(ops.arange(length, dtype="int32") + start, dtype)

    def _check_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(
                f"{self._who()} expects `inputs` of rank 3 (batch, sequence, features); "
                f"received inputs.shape={tuple(shape)} of rank {len(shape)}. It encodes one "
                "sequence axis: for a grid of patches use SinusoidalEncoding2D or PositionEmbedding2D."
            )

    def _check_inputs_dtype(self, inputs):
        if "float" not in dtype_name(inputs):
            raise ValueError(
                f"{self._who()} expects floating-point `inputs` (token "
                f"embeddings); received inputs.dtype={dtype_name(inputs)}. "
                "Embed integer token ids first, e.g. with keras.layers.Embedding."
            )

    def _check_inputs(self, inputs):
        self._check_inputs_dtype(inputs)
        self._check_shape(inputs.shape)
        if inputs.shape[-1] is not None and inputs.shape[-1] != self.width:
            raise ValueError(
                f"{self._who()} was built for inputs with {self.width} "
                f"features; received inputs.shape={tuple(inputs.shape)} "
                f"with {inputs.shape[-1]} features."
            )

    def get_config(self):
        config = super().get_config()
        config["scale_inputs"] = self.scale_inputs
        config["add_to_inputs"] = self.add_to_inputs
        return config
