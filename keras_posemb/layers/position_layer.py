"""Input handling shared by the position layers."""

import math

import keras
from keras import ops

from keras_posemb._args import check_bool
from keras_posemb.layers._range_guard import guard_range, poison


def _dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def _is_integer(x):
    return "int" in _dtype_name(x)


class PositionLayer(keras.layers.Layer):
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
        sequence_length = ops.shape(inputs)[-2]
        limit_message = (
            f"{self._who()}: positions must lie in [0, {self.max_position})"
            f"{self._limit_hint()}; received smallest position {{low}} and "
            "largest position {high}."
        )
        if positions is None:
            start = self._check_start_index(start_index)
            high = start + sequence_length - 1
            start, ok = guard_range(start, start, high, 0, self.max_position, limit_message)
            encoding = self.encode_range(start, sequence_length, inputs.dtype)
        else:
            positions = self._check_positions(positions, inputs)
            positions, ok = guard_range(
                positions,
                ops.min(positions),
                ops.max(positions),
                0,
                self.max_position,
                limit_message,
            )
            encoding = self.encode(positions, inputs.dtype)
        encoding = poison(encoding, ok)
        for _ in range(len(inputs.shape) - len(encoding.shape)):
            encoding = ops.expand_dims(encoding, axis=-3)
        if not self.add_to_inputs:
            return ops.broadcast_to(encoding, ops.shape(inputs))
        if self.scale_inputs:  # Section 3.4 of Vaswani et al.
            inputs = inputs * ops.cast(math.sqrt(self.width), inputs.dtype)
        return inputs + encoding

    def encode_range(self, start, length, dtype):
        """Encodings of positions `start .. start + length - 1`.

        Subclasses override this when contiguous positions have a cheaper
        path than a gather.
        """
        return self.encode(ops.arange(length, dtype="int32") + start, dtype)

    def _limit_hint(self):
        return ""

    def _who(self):
        return f"{type(self).__name__} {self.name!r}"

    def _check_shape(self, shape):
        if len(shape) < 3:
            raise ValueError(
                f"{self._who()} expects `inputs` of rank >= 3 "
                "(..., sequence, features); received inputs.shape="
                f"{tuple(shape)} of rank {len(shape)}."
            )

    def _check_inputs(self, inputs):
        if "float" not in _dtype_name(inputs):
            raise ValueError(
                f"{self._who()} expects floating-point `inputs` (token "
                f"embeddings); received inputs.dtype={_dtype_name(inputs)}. "
                "Embed integer token ids first, e.g. with keras.layers.Embedding."
            )
        self._check_shape(inputs.shape)
        if inputs.shape[-1] is not None and inputs.shape[-1] != self.width:
            raise ValueError(
                f"{self._who()} was built for inputs with {self.width} "
                f"features; received inputs.shape={tuple(inputs.shape)} "
                f"with {inputs.shape[-1]} features."
            )

    def _check_start_index(self, start_index):
        if isinstance(start_index, bool) or not (
            isinstance(start_index, int)
            or (
                ops.is_tensor(start_index)
                and _is_integer(start_index)
                and len(start_index.shape) == 0
            )
        ):
            raise ValueError(
                f"{self._who()}: `start_index` must be a non-negative int or "
                f"scalar integer tensor; received start_index={start_index!r}."
            )
        if isinstance(start_index, int) and start_index < 0:
            raise ValueError(
                f"{self._who()}: `start_index` must be >= 0; received start_index={start_index}."
            )
        if ops.is_tensor(start_index):
            return ops.cast(start_index, "int32")
        return start_index

    def _check_positions(self, positions, inputs):
        positions = ops.convert_to_tensor(positions)
        rank = len(positions.shape)
        if not _is_integer(positions) or rank not in (1, 2):
            raise ValueError(
                f"{self._who()}: `positions` must be an integer tensor of shape "
                "(sequence,) or (batch, sequence); received dtype "
                f"{_dtype_name(positions)} and shape {tuple(positions.shape)}."
            )
        if rank == 2 and len(inputs.shape) != 3:
            raise ValueError(
                f"{self._who()}: `positions` of shape (batch, sequence) needs "
                f"`inputs` of rank 3; received inputs.shape={tuple(inputs.shape)}."
            )
        expected = inputs.shape[-2:-1] if rank == 1 else inputs.shape[:2]
        for got, want in zip(positions.shape, expected):
            if got is not None and want is not None and got != want:
                raise ValueError(
                    f"{self._who()}: `positions` of shape "
                    f"{tuple(positions.shape)} do not match inputs.shape="
                    f"{tuple(inputs.shape)}."
                )
        return ops.cast(positions, "int32")

    def get_config(self):
        config = super().get_config()
        config["scale_inputs"] = self.scale_inputs
        config["add_to_inputs"] = self.add_to_inputs
        return config
