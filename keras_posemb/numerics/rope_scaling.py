"""RoPE context extension: the frequency variants, one table entry each.

A variant maps a rotary head's `dim` (the rotated channels), its base
(`max_wavelength`, Hugging Face's `rope_theta`) and, for the length-dependent
ones, the length of the current sequence to the angle per position of each
channel pair (float64 "inverse frequencies") and an attention factor that
multiplies the rotated queries and keys (so the logits by its square).
The length is a Python int, or, where it is only known when a compiled
graph runs (TensorFlow's `tf.function` with an unknown sequence axis), a
float64 tensor: the same formulas then run on `keras.ops` (the `xp`
argument) instead of NumPy.
`RotaryEmbedding(rope_scaling={...})` takes the same dictionaries as
Hugging Face's `rope_scaling` / `rope_parameters` (`{"rope_type": "yarn",
"factor": 4.0, "original_max_position_embeddings": 2048}`), with the same
defaults, so a ported checkpoint gets the frequencies it was trained with.

Variants, with the papers' names for their parameters:

- `default`: `base^(-2i/dim)`, pair `i` of `dim / 2` (Su et al. 2021).
- `linear`: position interpolation, every frequency divided by `factor`
  (Chen et al. 2023, "Extending Context Window ... via Positional
  Interpolation").
- `ntk`: NTK-aware scaling, the base raised to `base * factor^(dim/(dim-2))`
  (bloc97, 2023): high frequencies stay, the lowest is divided by `factor`.
- `dynamic`: NTK-aware with a factor that grows with the sequence:
  `base * (factor * L / L0 - (factor - 1))^(dim/(dim-2))` for a sequence of
  `L > L0 = original_max_position_embeddings` positions; unchanged below.
- `yarn`: Peng et al. 2023 ("YaRN"): pairs that turn more than `beta_fast`
  times over `L0` positions keep their frequency, those that turn fewer than
  `beta_slow` times are interpolated by `factor`, a linear ramp in between;
  the attention factor is `0.1 ln(factor) + 1` (their "mscale").
- `longrope`: Ding et al. 2024 ("LongRoPE"): a searched factor per pair,
  `short_factor` up to `L0` positions and `long_factor` beyond; attention
  factor `sqrt(1 + ln(factor) / ln(L0))`.
- `llama3`: Meta's Llama 3.1 scaling: wavelengths shorter than
  `L0 / high_freq_factor` stay, longer than `L0 / low_freq_factor` are
  divided by `factor`, smoothly interpolated in between.

Not Hugging Face's: `dynamic_linear`, `dynamic_yarn` and `dynamic_llama3`
are those three with the factor the length of the sequence over L0 (the
default frequencies up to L0), as `dynamic` is NTK-aware scaling with a
factor that grows with the length. A model trained as plain rotary up to L0
then reads longer text with the extension sized to it, without being
changed: this is how the extrapolation study (docs/decoders.md) applies the extensions at
evaluation time, and the registry's `rotary_linear`, `rotary_ntk`,
`rotary_yarn` and `rotary_llama3` families.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from keras_posemb._args import check_bool, check_choice, check_int, check_number
from keras_posemb.errors import argument_error

# Hugging Face's names for the base and the rotated fraction: arguments of
# `RotaryEmbedding` here, not scaling parameters.
LAYER_ARGUMENTS = ("rope_theta", "partial_rotary_factor")
# A Hugging Face config's context length: the variant's L0 where it names
# none (as Hugging Face's `dynamic` reads it), otherwise not used.
MODEL_LENGTH = "max_position_embeddings"


def _positive(name, value):
    return check_number(name, value, low=0, low_open=True)


def _at_least_one(name, value):
    return check_number(name, value, low=1)


def _length(name, value):
    return check_int(name, value)


def _optional_positive(name, value):
    return None if value is None else _positive(name, value)


def _factors(name, value):
    values = np.asarray(value, np.float64)
    if values.ndim != 1 or not len(values) or not np.all(np.isfinite(values) & (values > 0)):
        raise argument_error(name, value, "a non-empty list of positive finite numbers")
    return [float(v) for v in values]


@dataclasses.dataclass(frozen=True)
class RopeType:
    """One variant.

    Args:
        name: its `rope_type`.
        required: `{parameter: check}` for the parameters it needs.
        optional: `{parameter: (default, check)}`; `None` defaults are
            worked out from the others, as Hugging Face does.
        frequencies: `(parameters, dim, base, length, xp) -> (inverse
            frequencies float64 (dim / 2,), attention factor)`; `length` is
            the number of positions of the current sequence, or `None`;
            `xp` is `numpy`, or `keras.ops` for a tensor `length`.
        length_dependent: whether `frequencies` reads `length`.
        ordered: `(larger, smaller)` pairs of parameters: the first must
            exceed the second (YaRN's `beta_fast` and `beta_slow`).
    """

    name: str
    required: Mapping[str, Callable]
    frequencies: Callable[..., tuple[Any, Any]]
    optional: Mapping[str, tuple[Any, Callable]] = dataclasses.field(default_factory=dict)
    length_dependent: bool = False
    ordered: tuple[tuple[str, str], ...] = ()


def default_frequencies(dim: int, base: float) -> np.ndarray:
    """`base^(-2i/dim)` for each of the `dim / 2` pairs, float64."""
    return float(base) ** (-2.0 * np.arange(dim // 2, dtype=np.float64) / dim)


def _default(parameters, dim, base, length, xp=np):
    return default_frequencies(dim, base), 1.0


def _linear(parameters, dim, base, length, xp=np):
    return xp.divide(default_frequencies(dim, base), parameters["factor"]), 1.0


def _ntk_base(base, scale, dim):
    return base * scale ** (dim / (dim - 2))


def _ntk(parameters, dim, base, length, xp=np):
    return default_frequencies(dim, _ntk_base(base, parameters["factor"], dim)), 1.0


def _dynamic(parameters, dim, base, length, xp=np):
    original = parameters["original_max_position_embeddings"]
    length = original if length is None else xp.maximum(length, original)  # Unchanged up to L0.
    scale = parameters["factor"] * length / original - (parameters["factor"] - 1)
    # (base * scale^(dim/(dim-2)))^(-2i/dim), with the scale apart so that it may be a tensor.
    exponents = -2.0 * np.arange(dim // 2, dtype=np.float64) / (dim - 2)
    return xp.multiply(default_frequencies(dim, base), xp.power(scale, exponents)), 1.0


def _yarn_mscale(scale, mscale=1.0, xp=np):
    return xp.where(scale <= 1, 1.0, 0.1 * mscale * xp.log(scale) + 1.0)


def _yarn(parameters, dim, base, length, xp=np):
    factor, original = parameters["factor"], parameters["original_max_position_embeddings"]
    attention_factor = parameters["attention_factor"]
    if attention_factor is None:
        mscale, mscale_all_dim = parameters["mscale"], parameters["mscale_all_dim"]
        if mscale and mscale_all_dim:  # DeepSeek's ratio of two mscales.
            attention_factor = xp.divide(
                _yarn_mscale(factor, mscale, xp), _yarn_mscale(factor, mscale_all_dim, xp)
            )
        else:
            attention_factor = _yarn_mscale(factor, xp=xp)

    def pair_turning(rotations):
        # The pair index at which a wavelength fits `rotations` times into L0.
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = pair_turning(parameters["beta_fast"]), pair_turning(parameters["beta_slow"])
    if parameters["truncate"]:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    high = high + 0.001 if low == high else high  # No zero-width ramp.
    # 1 where a pair is interpolated (slow pairs), 0 where it keeps its frequency.
    interpolated = np.clip((np.arange(dim // 2) - low) / (high - low), 0, 1)
    frequencies = default_frequencies(dim, base)
    mixed = xp.add(xp.divide(frequencies * interpolated, factor), frequencies * (1 - interpolated))
    return mixed, attention_factor if xp is not np else float(attention_factor)


def _longrope(parameters, dim, base, length, xp=np):
    original = parameters["original_max_position_embeddings"]
    long = False if length is None else xp.greater(length, original)
    factors = {
        name: np.asarray(parameters[name], np.float64) for name in ("short_factor", "long_factor")
    }
    for name, values in factors.items():
        if len(values) != dim // 2:
            raise argument_error(
                name, parameters[name], f"{dim // 2} factors, one per rotated channel pair"
            )
    attention_factor = parameters["attention_factor"]
    if attention_factor is None:
        factor = parameters["factor"]
        attention_factor = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original))  # fmt: skip
    chosen = xp.where(long, factors["long_factor"], factors["short_factor"])
    return xp.divide(default_frequencies(dim, base), chosen), float(attention_factor)


def _llama3(parameters, dim, base, length, xp=np):
    factor, original = parameters["factor"], parameters["original_max_position_embeddings"]
    low, high = parameters["low_freq_factor"], parameters["high_freq_factor"]
    frequencies = default_frequencies(dim, base)
    wavelengths = 2 * math.pi / frequencies
    # 1 for wavelengths up to L0 / high (kept), 0 from L0 / low (divided by factor).
    kept = np.clip((original / wavelengths - low) / (high - low), 0, 1)
    return xp.add(frequencies * kept, xp.divide(frequencies * (1 - kept), factor)), 1.0


def _by_length(variant):
    """`variant` with `factor` = length / L0: unchanged up to L0 positions."""

    def frequencies(parameters, dim, base, length, xp=np):
        original = parameters["original_max_position_embeddings"]
        default = default_frequencies(dim, base)
        if xp is np:
            if length is None or length <= original:
                return default, 1.0
            return variant({**parameters, "factor": length / original}, dim, base, length)
        # A tensor length: both branches computed, the factor at least 1 in each.
        factor = xp.maximum(length, original) / original
        scaled, attention_factor = variant({**parameters, "factor": factor}, dim, base, length, xp)
        longer = xp.greater(length, original)
        return xp.where(longer, scaled, default), xp.where(longer, attention_factor, 1.0)

    return frequencies


_ORIGINAL = {"original_max_position_embeddings": _length}
_YARN_OPTIONAL = {
    "beta_fast": (32.0, _positive),
    "beta_slow": (1.0, _positive),
    "attention_factor": (None, _optional_positive),
    "mscale": (None, _optional_positive),
    "mscale_all_dim": (None, _optional_positive),
    "truncate": (True, check_bool),
}
# The ramp runs from pairs that turn beta_fast times over L0 to those that turn beta_slow times.
_YARN_ORDER = (("beta_fast", "beta_slow"),)
_LLAMA3_ORDER = (("high_freq_factor", "low_freq_factor"),)

ROPE_TYPES: dict[str, RopeType] = {
    entry.name: entry
    for entry in [
        RopeType("default", {}, _default),
        RopeType("linear", {"factor": _positive}, _linear),
        RopeType("ntk", {"factor": _at_least_one}, _ntk),
        RopeType(
            "dynamic", {"factor": _at_least_one, **_ORIGINAL}, _dynamic, length_dependent=True
        ),  # fmt: skip
        RopeType(
            "yarn",
            {"factor": _at_least_one, **_ORIGINAL},
            _yarn,
            optional=_YARN_OPTIONAL,
            ordered=_YARN_ORDER,
        ),
        RopeType(
            "longrope",
            {"short_factor": _factors, "long_factor": _factors, "factor": _positive, **_ORIGINAL},
            _longrope,
            optional={"attention_factor": (None, _optional_positive)},
            length_dependent=True,
        ),
        RopeType(
            "llama3",
            {
                "factor": _at_least_one,
                "low_freq_factor": _positive,
                "high_freq_factor": _positive,
                **_ORIGINAL,
            },
            _llama3,
            ordered=_LLAMA3_ORDER,
        ),
        RopeType("dynamic_linear", _ORIGINAL, _by_length(_linear), length_dependent=True),
        RopeType(
            "dynamic_yarn",
            _ORIGINAL,
            _by_length(_yarn),
            optional=_YARN_OPTIONAL,
            length_dependent=True,
            ordered=_YARN_ORDER,
        ),
        RopeType(
            "dynamic_llama3",
            _ORIGINAL,
            _by_length(_llama3),
            # Llama 3.1's values.
            optional={"low_freq_factor": (1.0, _positive), "high_freq_factor": (4.0, _positive)},
            length_dependent=True,
            ordered=_LLAMA3_ORDER,
        ),
    ]
}


def check_rope_scaling(scaling: Mapping | None) -> dict | None:
    """A `rope_scaling` dictionary checked and completed with the defaults.

    Takes Hugging Face's spelling: `rope_type` (or the older `type`), the
    variant's parameters, and `max_position_embeddings` (the model's
    context), read as `original_max_position_embeddings` where that is not
    given, as Hugging Face's `dynamic` does. Unknown keys are refused, not
    ignored.
    """
    if scaling is None:
        return None
    if not isinstance(scaling, Mapping):
        raise argument_error("rope_scaling", scaling, "a dict such as {'rope_type': 'linear', 'factor': 4.0}, or None")  # fmt: skip
    scaling = dict(scaling)
    if "type" in scaling and "rope_type" not in scaling:
        scaling["rope_type"] = scaling.pop("type")
    name = check_choice("rope_type", scaling.pop("rope_type", None), tuple(ROPE_TYPES))
    entry = ROPE_TYPES[name]
    for key in LAYER_ARGUMENTS:
        if key in scaling:
            raise argument_error(
                key, scaling[key], "an argument of RotaryEmbedding (max_wavelength or "
                "partial_rotary_factor), not of rope_scaling; "
                "RotaryEmbedding.from_rope_parameters reads a whole Hugging Face dict",
            )  # fmt: skip
    checked = {"rope_type": name}
    model_length = scaling.pop(MODEL_LENGTH, None)
    if "original_max_position_embeddings" in entry.required and model_length is not None:
        scaling.setdefault("original_max_position_embeddings", model_length)
    for key, check in entry.required.items():
        if scaling.get(key) is None:
            raise argument_error(key, None, f"given for rope_type={name!r}")
        checked[key] = check(key, scaling.pop(key))
    for key, (default, check) in entry.optional.items():
        checked[key] = check(key, scaling.pop(key, default))
    if scaling:
        known = sorted([*entry.required, *entry.optional])
        raise argument_error(
            "rope_scaling", dict(scaling), f"only the parameters of rope_type={name!r}: {known}"
        )
    for larger, smaller in entry.ordered:
        if checked[larger] <= checked[smaller]:
            raise argument_error(
                larger, checked[larger], f"greater than {smaller}={checked[smaller]!r}"
            )
    return checked


def rope_frequencies(
    scaling: Mapping | None, dim: int, base: float, length: Any = None, xp: Any = np
) -> tuple[Any, Any]:
    """`(inverse frequencies (dim / 2,) float64, attention factor)` of a
    checked `rope_scaling` (`None`: the default) for `dim` rotated channels.

    `length` is an int or `None`, or for a length-dependent variant a
    float64 scalar tensor with `xp=keras.ops`: both results are then
    float64 tensors."""
    entry = ROPE_TYPES["default" if scaling is None else scaling["rope_type"]]
    return entry.frequencies(scaling or {}, dim, float(base), length, xp)


def is_length_dependent(scaling: Mapping | None) -> bool:
    return scaling is not None and ROPE_TYPES[scaling["rope_type"]].length_dependent
