"""Argument checks, the one place for them: layers, models, data and the
trainer's settings all call these, so every bad value gets the same kind of
message, "Argument `x` must be ...; received x=...", from Python and (through
`errors.Setting`) on the command line."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from keras_posemb.errors import Setting, argument_error


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise argument_error(name, value, "True or False")
    return bool(value)


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """An int (NumPy ints too, never a bool) in `[minimum, maximum]`."""
    if maximum is not None:
        expected = f"an int in [{minimum}, {maximum:,}]"
    else:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < minimum or (maximum is not None and value > maximum):
        raise argument_error(name, value, expected)
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval from `low` to `high`.

    `low_open`/`high_open` exclude the end points: `check_number("dropout",
    x, 0, 1, high_open=True)` accepts `[0, 1)`.
    """
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    inside = is_number and math.isfinite(value)
    if inside and low is not None:
        inside = value > low if low_open else value >= low
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        raise argument_error(name, value, _describe_interval(low, high, low_open, high_open))
    return value


def _describe_interval(low, high, low_open, high_open):
    if low is None and high is None:
        return "a finite number"
    if high is None:
        if low == 0:
            return "a positive finite number" if low_open else "a finite number >= 0"
        return f"a finite number {'>' if low_open else '>='} {low}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high}"
    return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_choice(name: str, value: Any, choices: Collection) -> Any:
    """One of `choices`, of the same type (so `True` is not taken for `1`)."""
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise argument_error(name, value, f"one of {tuple(choices)}")
    return value


def check_even(name: str, value: Any, minimum: int = 0, why: str = "") -> int:
    """An even int that is at least `minimum`; `why` says why it must be even."""
    if check_int(name, value, minimum) % 2:
        raise argument_error(name, value, f"even{why}")
    return value


def check_divisible(name: str, value: Any, width_name: str, width: int) -> int:
    """A positive int that divides `width` (attention heads of a width)."""
    check_int(name, value)
    if width % value:
        raise argument_error(name, value, "a divisor of ", Setting(width_name, width))
    return value
