"""The package's exceptions.

Every error is a `ValueError` whose message names the setting, the value
received and what was expected. A message refers to settings through
`Setting` parts, so the same error reads `learning_rate=0` from Python and
`--learning-rate 0` on the command line: the library never names a flag, and
the command line does not parse message text (`Error.render`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

_NO_VALUE = object()


class Setting(NamedTuple):
    """A setting named in a message, with the value received if it matters."""

    name: str
    value: Any = _NO_VALUE

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE


def python_spelling(setting: Setting) -> str:
    """`name=value`, or the name in backquotes: how Python code spells it."""
    if setting.has_value:
        return f"{setting.name}={setting.value!r}"
    return f"`{setting.name}`"


class Error(ValueError):
    """Base class. `parts` are strings and `Setting`s, joined into the message."""

    def __init__(self, *parts: Any):
        self.parts = parts
        super().__init__(self.render())

    def render(self, spell: Callable[[Setting], str] = python_spelling) -> str:
        return "".join(spell(p) if isinstance(p, Setting) else str(p) for p in self.parts)


class ArgumentError(Error):
    """An argument or setting with a value it cannot take."""


class PositionRangeError(Error):
    """Positions outside what a position layer can encode.

    Raised when the positions are known as the layer runs (eager calls, and
    compiled calls with a static length and a Python `start_index`).
    """


class TokenIdError(Error):
    """Token ids that a model has no embedding for: not integers, or outside
    `[0, vocabulary size)`."""


class DataError(Error):
    """Bad data, or a data set that cannot be had; the message says why."""


class DataWarning(UserWarning):
    """Data that loads but looks wrong (a label column holding text, a
    validation file that is the training file)."""


class RunError(Error):
    """A run directory that cannot be used as asked: settings that differ
    from the run it would resume, a damaged checkpoint, a failed write."""


class DependencyError(Error):
    """A feature whose optional dependency is not installed; the message
    says which, and the command that installs it."""


class TrainingError(Error):
    """Training that cannot go on, such as a loss that became NaN."""


def argument_error(name: str, value: Any, *expected: Any) -> ArgumentError:
    """`Argument `name` must be <expected>; received name=value.`

    `expected` is one or more message parts (strings and `Setting`s, so that
    another setting it names is spelled as the command line spells it).
    """
    return ArgumentError(
        "Argument ", Setting(name), " must be ", *expected, "; received ", Setting(name, value), "."
    )
