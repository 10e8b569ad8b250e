"""The `start_index` and `positions` call arguments, checked on every backend.

Every layer that encodes positions (absolute, rotary, ALiBi, T5) takes the
same two call arguments with the same rules and errors: `start_index` (the
position of the first token, for cached decoding) or explicit `positions`
of shape `(sequence,)` or `(batch, sequence)` (to skip left padding).
Positions outside `[0, max_position)` raise `PositionRangeError` whenever
they are known as the layer runs; see `_range_guard` for the other paths.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_posemb.layers._range_guard import guard_range

# The bound checked for layers without a largest position (int32 positions).
NO_LIMIT = 2**31 - 1


def docstring_part(name: str, text: str):
    """A class decorator that writes `text` into the docstring where it says
    `{name}`: prose that several layers share is written once."""

    def fill(cls):
        cls.__doc__ = cls.__doc__.replace("{" + name + "}", text)
        return cls

    return fill


def _both(first, second):
    """Two `guard_range` results as one (`None` where checked in Python)."""
    if first is None or second is None:
        return second if first is None else first
    return ops.logical_and(first, second)


def dtype_name(x) -> str:
    dtype = x.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "USO":
        return "string"  # As TensorFlow names it; other backends have no string tensors.
    return keras.backend.standardize_dtype(dtype)


def is_integer(x) -> bool:
    return "int" in dtype_name(x)


# Tensor types that hold no dense (batch, sequence, ...) layout: positions
# would be counted along a ragged or sparse axis.
NOT_DENSE = ("RaggedTensor", "SparseTensor", "BCOO", "BCSR")


def check_dense(inputs, who: str, name: str = "inputs") -> None:
    """Refuses ragged and sparse tensors, naming the argument and the shape."""
    kind = type(inputs).__name__
    sparse_torch = (
        type(inputs).__module__.startswith("torch")
        and str(getattr(inputs, "layout", "torch.strided")) != "torch.strided"
    )
    if kind in NOT_DENSE or sparse_torch:
        shape = tuple(getattr(inputs, "shape", ()))
        raise ValueError(
            f"{who} expects a dense `{name}` tensor; received a {kind} of shape {shape}. "
            "Pad it to a dense tensor first (a RaggedTensor's .to_tensor(), a sparse "
            "tensor's to-dense), with a padding mask for the padded positions."
        )


class PositionArguments:
    """Mixed into a `keras.layers.Layer` that takes positions.

    The layer sets `max_position` (one more than the largest position it
    can encode; `None` for no limit) and may override `_limit_hint`.
    """

    max_position = None
    # How the call's first argument is named in messages.
    _inputs_name = "inputs"

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _limit_hint(self) -> str:
        return ""

    def __call__(self, inputs, *args, **kwargs):
        check_dense(inputs, self._who(), self._inputs_name)
        # NumPy positions are checked before Keras makes tensors of them:
        # JAX (without x64) narrows int64 to int32, so 2**32 + i would be i.
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        if isinstance(positions, (np.ndarray, list, tuple)):
            values = np.asarray(positions)
            if values.dtype.kind in "iu" and values.size:
                limit, message = self._range_message()
                guard_range(None, values.min(), values.max(), 0, limit, message)
        return super().__call__(inputs, *args, **kwargs)

    def _range_message(self):
        limit = self.max_position or NO_LIMIT
        message = (
            f"{self._who()}: positions must lie in [0, {limit})"
            f"{self._limit_hint()}; received smallest position {{low}} and "
            "largest position {high}."
        )
        return limit, message

    def resolve_positions(self, start_index, positions, length, shape, name="inputs"):
        """The positions of `length` tokens, checked.

        Args:
            start_index: the `start_index` call argument.
            positions: the `positions` call argument, or `None`.
            length: the sequence length (int or scalar tensor).
            shape: the static shape of the tensor the positions belong to,
                batch first, for the error messages and shape checks.
            name: that tensor's argument name, for the messages.

        Returns:
            `(start, positions, ok)`: either `start` (int or int32 scalar
            tensor) with `positions=None`, meaning `start .. start + length
            - 1`, or `positions` as an int32 tensor; `ok` is `None` when the
            range was checked in Python, else a boolean tensor for `poison`.
        """
        limit, message = self._range_message()
        # Checked in the given integer dtype, then narrowed to int32: a cast
        # first would wrap 2**32 + i to i.
        if positions is None:
            start = self._check_start_index(start_index)
            if not ops.is_tensor(start):
                start, ok = guard_range(start, start, start + length - 1, 0, limit, message)
                return start, None, ok
            # The start alone in its own dtype, then the last position in int32.
            start, start_ok = guard_range(start, start, start, 0, limit, message)
            start = ops.cast(start, "int32")
            start, ok = guard_range(start, start, start + length - 1, 0, limit, message)
            return start, None, _both(start_ok, ok)
        positions = self._check_positions(positions, length, shape, name)
        positions, ok = guard_range(
            positions, ops.min(positions), ops.max(positions), 0, limit, message
        )
        return None, ops.cast(positions, "int32"), ok

    def _check_start_index(self, start_index):
        is_scalar_tensor = (
            ops.is_tensor(start_index) and is_integer(start_index) and len(start_index.shape) == 0
        )
        if isinstance(start_index, bool) or not (isinstance(start_index, int) or is_scalar_tensor):
            raise ValueError(
                f"{self._who()}: `start_index` must be a non-negative int or "
                f"scalar integer tensor; received start_index={start_index!r}."
            )
        if isinstance(start_index, int) and start_index < 0:
            raise ValueError(
                f"{self._who()}: `start_index` must be >= 0; received start_index={start_index}."
            )
        return start_index

    def _check_positions(self, positions, length, shape, name):
        positions = ops.convert_to_tensor(positions)
        rank = len(positions.shape)
        if not is_integer(positions) or rank not in (1, 2):
            raise ValueError(
                f"{self._who()}: `positions` must be an integer tensor of shape "
                "(sequence,) or (batch, sequence); received dtype "
                f"{dtype_name(positions)} and shape {tuple(positions.shape)}."
            )
        static_length = length if isinstance(length, int) else None
        expected = (static_length,) if rank == 1 else (shape[0], static_length)
        for got, want in zip(positions.shape, expected):
            if got is not None and want is not None and got != want:
                raise ValueError(
                    f"{self._who()}: `positions` of shape {tuple(positions.shape)} do not "
                    f"match {name}.shape={tuple(shape)}."
                )
        return positions
