from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
from keras import ops

from keras_posemb._args import check_choice, check_int, check_number
from keras_posemb.errors import ArgumentError, Setting, argument_error
from keras_posemb.layers._angles import AngleTable
from keras_posemb.layers._positions import PositionArguments, dtype_name
from keras_posemb.layers._range_guard import poison, static_value
from keras_posemb.numerics import rope_scaling as scalings
from keras_posemb.numerics import sinusoid
from keras_posemb.numerics.angles import MAX_POSITION

LAYOUTS = ("half", "interleaved")


def rotary_frequencies(width: int, max_wavelength: float = 10000, scaling_factor: float = 1.0):
    """The angle per position of each of the `width / 2` feature pairs, float64:
    `max_wavelength^(-2i / width) / scaling_factor`."""
    return scalings.default_frequencies(width, max_wavelength) / float(scaling_factor)


def rotate_pairs(x, sin, cos, layout: str):
    """Rotates the feature pairs of `x` (last axis) by angles whose sines and
    cosines broadcast to `x.shape[:-1] + (pairs,)`; `layout` "half" pairs
    feature `i` with `i + pairs`, "interleaved" `2i` with `2i + 1`."""
    half = ops.shape(x)[-1] // 2
    if layout == "half":
        first, second = x[..., :half], x[..., half:]
        return ops.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
    pairs = ops.reshape(x, (*ops.shape(x)[:-1], half, 2))
    first, second = pairs[..., 0], pairs[..., 1]
    rotated = ops.stack([first * cos - second * sin, second * cos + first * sin], axis=-1)
    return ops.reshape(rotated, ops.shape(x))


class _Float64Ops:
    """`keras.ops` for `rope_scaling`'s formulas of a tensor length, every
    operand but a condition made a float64 tensor first: Keras' PyTorch
    backend computes a float64 tensor against a Python number in float32."""

    def __getattr__(self, name):
        function = getattr(ops, name)

        def in_float64(*operands):
            return function(*(_float64(operand) for operand in operands))

        return in_float64


def _float64(x):
    x = ops.convert_to_tensor(x)
    return x if keras.backend.standardize_dtype(x.dtype) == "bool" else ops.cast(x, "float64")


FLOAT64_OPS = _Float64Ops()


@keras.saving.register_keras_serializable(package="keras_posemb")
class RotaryEmbedding(PositionArguments, keras.layers.Layer):
    """Rotary position embedding (RoPE): rotates feature pairs by position.

    Queries and keys rotated this way have dot products that depend only on
    how far apart their positions are: the rotation of position `m` and that
    of position `n` combine to a rotation by `n - m`. So attention sees
    relative positions, with nothing added to the token embeddings. Pair `i`
    of a `d`-wide feature axis is rotated by the angle

        theta(p, i) = (p / scaling_factor) / max_wavelength^(2i / d).

    `layout="half"` pairs feature `i` with feature `i + d/2` (GPT-NeoX,
    LLaMA, keras_hub); `layout="interleaved"` pairs `2i` with `2i + 1` (the
    RoFormer paper, GPT-J). The sines and cosines are exact to about one unit
    in the last place of float32 for every position below 262,144, as in
    `SinusoidalEncoding` (positions split as `512 h + l`, angle addition over
    tables computed in float64), and are rounded once to the compute dtype
    under mixed precision. The layer has no weights.

    Context extension: `rope_scaling` takes Hugging Face's dictionaries
    (`{"rope_type": "yarn", "factor": 4.0,
    "original_max_position_embeddings": 2048}`) with the same defaults:
    `linear`, `ntk`, `dynamic`, `yarn`, `longrope`, `llama3` (see
    `keras_posemb.numerics.rope_scaling` for the formulas and the papers). Variants
    with an attention factor (YaRN, LongRoPE) multiply the rotated channels
    by it. `dynamic` and `longrope` depend on the length of the sequence:
    the inputs' own length in a full pass, `sequence_length` when given
    (`PositionalAttention` gives the cache's length in cached decoding, so
    every token of a generation sees the same frequencies). Where that
    length is only known when a compiled graph runs (TensorFlow's
    `tf.function` traced for any length), the frequencies and angles are
    computed in the graph in float64. `partial_rotary_
    factor` rotates only the first fraction of each head's channels (GPT-NeoX,
    Phi) and passes the rest through.

    Args:
        max_wavelength: positive finite number, the 10000 of the formula.
            Defaults to `10000`.
        scaling_factor: positive finite number that divides positions
            (position interpolation for longer contexts; the same as
            `rope_scaling={"rope_type": "linear", "factor": scaling_factor}`).
            Defaults to `1.0`.
        layout: `"half"` or `"interleaved"`. Defaults to `"half"`.
        sequence_axis: the axis of `inputs` that holds positions (not the
            batch axis 0). Defaults to `1`.
        feature_axis: the axis that holds the features to rotate; its size
            must be even. Defaults to `-1`.
        rope_scaling: `None`, or a context-extension dict as above.
        partial_rotary_factor: number in `(0, 1]`, the fraction of each
            head's channels that rotate (`int(width * factor)`, even).
            Defaults to `1.0`.
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor such as `(batch, sequence, features)` or
            `(batch, sequence, heads, head_dim)`.
        start_index: non-negative int or scalar integer tensor, the position
            of the first token (for cached decoding). Defaults to `0`.
        positions: optional integer tensor of shape `(sequence,)` or
            `(batch, sequence)` with explicit positions. Replaces
            `start_index` when given.
        sequence_length: optional int or scalar integer tensor, the length
            that `dynamic` and `longrope` scaling read. Defaults to the last
            position + 1.

    Example:

    ```python
    rotary = keras_posemb.RotaryEmbedding()
    query = rotary(query)  # (batch, sequence, heads, head_dim)
    key = rotary(key)
    scores = keras.ops.einsum("bqhd,bkhd->bhqk", query, key)
    ```

    References:
        - [Su et al., 2021](https://arxiv.org/abs/2104.09864)
        - [Chen et al., 2023](https://arxiv.org/abs/2306.15595) (linear)
        - [Peng et al., 2023](https://arxiv.org/abs/2309.00071) (YaRN)
        - [Ding et al., 2024](https://arxiv.org/abs/2402.13753) (LongRoPE)
    """

    max_position = MAX_POSITION
    # Inside `PositionalAttention`, it rotates the queries and the keys.
    attention_role = "queries_and_keys"

    def __init__(
        self,
        max_wavelength: float = 10000,
        scaling_factor: float = 1.0,
        layout: str = "half",
        sequence_axis: int = 1,
        feature_axis: int = -1,
        rope_scaling: dict | None = None,
        partial_rotary_factor: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_wavelength = sinusoid.check_max_wavelength(max_wavelength)
        self.scaling_factor = check_number("scaling_factor", scaling_factor, low=0, low_open=True)
        self.rope_scaling = scalings.check_rope_scaling(rope_scaling)
        if self.rope_scaling is not None and self.scaling_factor != 1:
            raise argument_error(
                "scaling_factor", scaling_factor, "1 when rope_scaling is given (it is the "
                "linear variant of rope_scaling)",
            )  # fmt: skip
        if self.scaling_factor != 1:
            self.rope_scaling = {"rope_type": "linear", "factor": self.scaling_factor}
        self.partial_rotary_factor = check_number(
            "partial_rotary_factor", partial_rotary_factor, 0, 1, low_open=True
        )
        self.layout = check_choice("layout", layout, LAYOUTS)
        self.sequence_axis = check_int("sequence_axis", sequence_axis, minimum=-(2**31))
        self.feature_axis = check_int("feature_axis", feature_axis, minimum=-(2**31))
        self.supports_masking = True
        self.width = self.rotary_dim = None
        self._tables = {}

    @classmethod
    def from_rope_parameters(cls, parameters: dict, **kwargs) -> RotaryEmbedding:
        """The layer of a Hugging Face `rope_parameters` (or `rope_scaling`)
        dict: `rope_theta` and `partial_rotary_factor` become this layer's
        arguments, the rest its `rope_scaling`. A key that is not one of the
        variant's parameters is refused, as is a `rope_theta` or
        `partial_rotary_factor` given both in the dict and as an argument."""
        if not isinstance(parameters, Mapping):
            raise argument_error(
                "parameters", parameters, "a dict such as {'rope_type': 'yarn', 'factor': 4.0, "
                "'original_max_position_embeddings': 2048, 'rope_theta': 10000.0}",
            )  # fmt: skip
        parameters = dict(parameters)
        for key, argument in (
            ("rope_theta", "max_wavelength"),
            ("partial_rotary_factor", "partial_rotary_factor"),
        ):
            if key in parameters:
                if argument in kwargs:
                    raise argument_error(
                        argument, kwargs[argument], f"left out when the dict gives {key}="
                        f"{parameters[key]!r} (one value, in one place)",
                    )  # fmt: skip
                kwargs[argument] = parameters.pop(key)
        if "rope_type" not in parameters and "type" not in parameters:
            parameters["rope_type"] = "default"
        scaling = scalings.check_rope_scaling(parameters)
        return cls(rope_scaling=None if scaling["rope_type"] == "default" else scaling, **kwargs)

    @property
    def reads_sequence_length(self) -> bool:
        """Whether the rotation depends on the sequence's length (`dynamic`,
        `longrope`, ...): attention then gives the cache's length when it
        decodes (`sequence_length`)."""
        return scalings.is_length_dependent(self.rope_scaling)

    def frequencies(self, length: int | None = None) -> tuple[np.ndarray, float]:
        """`(angle per position of each rotated pair, float64, attention
        factor)` for a sequence of `length` positions."""
        return scalings.rope_frequencies(
            self.rope_scaling, self.rotary_dim, self.max_wavelength, length
        )

    def _table(self, length):
        """The `AngleTable` (and attention factor) for `length` positions."""
        frequencies, attention_factor = self.frequencies(length)
        key = frequencies.tobytes()
        if key not in self._tables:
            half = len(frequencies)
            # The sines, then the cosines (a phase of pi/2) of each pair's angle.
            table = AngleTable(
                np.concatenate([frequencies, frequencies]),
                np.concatenate([np.zeros(half), np.full(half, np.pi / 2)]),
            )
            self._tables[key] = (table, attention_factor)
        return self._tables[key]

    def check_attention(self, num_heads: int, key_dim: int) -> None:
        """Raises `ArgumentError` unless each head's width is even (pairs rotate)."""
        if key_dim % 2:
            raise ArgumentError(
                "Rotary positions need an even number of features per head (they rotate in "
                f"pairs); received {key_dim} features per head, with ",
                Setting("num_heads", num_heads), ".",
            )  # fmt: skip

    def _axes(self, rank):
        axes = []
        for name, axis in (
            ("sequence_axis", self.sequence_axis),
            ("feature_axis", self.feature_axis),
        ):
            if not -rank <= axis < rank:
                raise ValueError(
                    f"Argument `{name}` must be an axis of `inputs` of rank {rank}; received "
                    f"{name}={axis}."
                )
            axes.append(axis % rank)
        sequence, feature = axes
        if sequence == 0 or sequence == feature:
            raise ValueError(
                f"{self._who()} needs `sequence_axis` and `feature_axis` to be two axes other "
                f"than the batch axis 0; received sequence_axis={self.sequence_axis}, "
                f"feature_axis={self.feature_axis} for inputs of rank {rank}."
            )
        return sequence, feature

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"{self._who()} expects `inputs` of rank >= 3 (batch, sequence, ..., features); "
                f"received inputs.shape={tuple(input_shape)}."
            )
        _, feature = self._axes(len(input_shape))
        width = input_shape[feature]
        if width is None or width % 2:
            raise ValueError(
                f"{self._who()} rotates pairs of features, so the feature axis needs a known "
                f"even size; received inputs.shape={tuple(input_shape)} with feature_axis="
                f"{self.feature_axis}."
            )
        self.width = int(width)
        self.rotary_dim = int(self.width * self.partial_rotary_factor)
        if self.rotary_dim < 2 or self.rotary_dim % 2:
            raise ValueError(
                f"{self._who()}: partial_rotary_factor={self.partial_rotary_factor} of "
                f"{self.width} features rotates {self.rotary_dim}; that must be an even number "
                f">= 2 (features rotate in pairs)."
            )
        # The variant checked against this width now (LongRoPE's factors, short and long).
        for length in (None, MAX_POSITION):
            self.frequencies(length)

    def call(self, inputs, start_index=0, positions=None, sequence_length=None):
        if "float" not in dtype_name(inputs):
            raise ValueError(
                f"{self._who()} expects floating-point `inputs`; received "
                f"inputs.dtype={dtype_name(inputs)}."
            )
        rank = len(inputs.shape)
        sequence, feature = self._axes(rank)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        length = ops.shape(inputs)[sequence]
        start, positions, ok = self.resolve_positions(start_index, positions, length, inputs.shape)
        scaling_length = self._scaling_length(start, length, positions, sequence_length)
        if scaling_length is None or isinstance(scaling_length, int):
            table, attention_factor = self._table(scaling_length)
            if positions is None:
                angles = table.contiguous(start, length, dtype)
            else:
                angles = table.gather(positions, dtype)
        else:
            angles, attention_factor = self._angles_at_run_time(
                start, length, positions, scaling_length, dtype
            )
        angles = poison(angles, ok)
        if not isinstance(attention_factor, float) or attention_factor != 1:
            # YaRN's and LongRoPE's factor on the cosines and sines.
            angles = angles * ops.cast(attention_factor, dtype)
        # Features last; the angles broadcast over every other axis.
        x = ops.moveaxis(inputs, feature, -1)
        sequence_in_x = sequence if sequence < feature else sequence - 1
        shape = [1] * rank
        shape[sequence_in_x] = -1
        shape[-1] = self.rotary_dim
        if len(angles.shape) == 3:  # Positions per example.
            shape[0] = ops.shape(angles)[0]
        angles = ops.reshape(angles, shape)
        half = self.rotary_dim // 2
        sin, cos = angles[..., :half], angles[..., half:]
        rotated = rotate_pairs(x[..., : self.rotary_dim], sin, cos, self.layout)
        if self.rotary_dim < self.width:  # Partial rotary: the other channels pass through.
            rotated = ops.concatenate([rotated, x[..., self.rotary_dim :]], axis=-1)
        return ops.moveaxis(rotated, -1, feature)

    def _scaling_length(self, start, length, positions, sequence_length):
        """The sequence length a length-dependent variant reads: an int, a
        float64 scalar tensor where it is known only at run time (a graph
        traced with an unknown sequence axis), or `None` for the others."""
        if not scalings.is_length_dependent(self.rope_scaling):
            return None
        if sequence_length is None:
            last = start + length - 1 if positions is None else ops.max(positions)
            sequence_length = last + 1
        value = static_value(sequence_length)
        if value is not None:
            return check_int("sequence_length", int(value))
        return ops.cast(sequence_length, "float64")

    def _angles_at_run_time(self, start, length, positions, sequence_length, dtype):
        """The sines and cosines `(..., sequence, rotary_dim)` and the attention
        factor for a sequence length known only at run time: the frequencies
        and angles computed in the graph, in float64 (`keras.ops`)."""
        frequencies, attention_factor = scalings.rope_frequencies(
            self.rope_scaling, self.rotary_dim, self.max_wavelength, sequence_length, FLOAT64_OPS
        )
        if positions is None:
            positions = ops.arange(length, dtype="int32") + start
        angles = ops.expand_dims(ops.cast(positions, "float64"), -1) * frequencies
        angles = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.cast(angles, dtype), ops.cast(attention_factor, dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _limit_hint(self):
        return " (the largest position the rotary tables cover)"

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
                "layout": self.layout,
                "sequence_axis": self.sequence_axis,
                "feature_axis": self.feature_axis,
                "rope_scaling": None if self.scaling_factor != 1 else self.rope_scaling,
                "partial_rotary_factor": self.partial_rotary_factor,
            }
        )
        return config
