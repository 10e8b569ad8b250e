"""What every trainer's settings share (`RunSettings`), and how a field
declares its flag (`setting`).

A trainer's command-line flags are generated from its settings dataclass:
each field's metadata holds the help text and the choices, and its
annotation the type a flag's text parses to (`field_types`).
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

from keras_posemb import families
from keras_posemb._args import check_bool, check_choice, check_divisible, check_int
from keras_posemb.errors import argument_error
from keras_posemb.runs.run import RunKind


def setting(default: Any, help: str, choices: tuple | None = None, same_on_resume: bool = True):
    """A `TrainConfig` field; the command line is generated from these.

    Args:
        default: the default value.
        help: the flag's help text (or a callable that returns it).
        choices: the values it may take, if a fixed set (or a callable
            that returns them).
        same_on_resume: whether a resumed run must have the same value
            (everything that changes what is trained).
    """
    metadata = {"help": help, "choices": choices, "same_on_resume": same_on_resume}
    return dataclasses.field(default=default, metadata=metadata)


def field_help(field: dataclasses.Field) -> str:
    """A field's help text; a callable is asked now (the registry may have grown)."""
    help = field.metadata["help"]
    return help() if callable(help) else help


def field_choices(field: dataclasses.Field) -> tuple | None:
    choices = field.metadata["choices"]
    return tuple(choices()) if callable(choices) else choices


def field_types(config_class: type) -> dict[str, type]:
    """Each field's type, `X | None` taken as `X`: what a flag's text parses to."""
    types = {}
    for name, hint in typing.get_type_hints(config_class).items():
        options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
        if len(options) != 1:
            raise TypeError(f"Field {name!r} has type {hint}: one type (or it and None) expected.")
        types[name] = options[0]
    return types


def fields_in_flag_order(config_class: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass, its own first and then those it
    shares with every trainer (`RunSettings`): the order of its flags."""
    shared = {field.name for field in dataclasses.fields(RunSettings)}
    return sorted(dataclasses.fields(config_class), key=lambda field: field.name in shared)


def position_help(**which) -> str:
    """The `--position` help: the families of `families.names(**which)`."""
    described = "; ".join(
        f"{name}: {families.get(name).description}" for name in families.names(**which)
    )
    return f"position encoding ({described})"


@dataclasses.dataclass
class RunSettings:
    """What every trainer's settings share: the fields below, declared once,
    and the checks of any settings dataclass of `setting` fields. A trainer's
    own fields come first in its flags (`add_config_flags`)."""

    num_heads: int = setting(4, "attention heads (must divide --embed-dim)")
    overwrite: bool = setting(
        False,
        "start afresh in an output directory that holds another run (its files are removed)",
        same_on_resume=False,
    )
    seed: int = setting(
        0,
        "random seed: the same seed and settings give the same run on CPU, interrupted or not",
    )
    mixed_precision: bool = setting(False, "mixed precision: float16 on GPU, bfloat16 on CPU")
    jit_compile: bool = setting(False, "compile training with XLA (JAX always compiles)")
    plots: bool = setting(
        True, "write PNG plots: the training curves and the position vectors", same_on_resume=False
    )
    verbose: int = setting(
        1,
        "1: progress bars on a terminal (one line per epoch or interval elsewhere), 2: one "
        "line per epoch or interval, 0: nothing (the results are in metrics.json)",
        choices=(0, 1, 2),
        same_on_resume=False,
    )

    # The setting that names the training data (in the message that refuses
    # to resume on other data).
    DATA_SETTING: typing.ClassVar[str] = "dataset"
    # What the run directory holds (`run.KINDS`).
    KIND: typing.ClassVar[RunKind]

    def validate(self) -> None:
        """Checks every setting, before any data is read: `check_values`,
        then `check_with_layers`.

        Raises:
            ArgumentError: naming the setting, the value and what is
                expected.
        """
        self.check_values()
        self.check_with_layers()

    def check_values(self) -> None:
        """The checks that need neither Keras nor data: the command line
        runs them before Keras loads, so that a bad flag is refused at once."""
        raise NotImplementedError

    def check_with_layers(self) -> None:
        """The checks that make a layer (Keras): the family's, on the
        model's `position_settings`."""
        families.get(self.position).check(self.position_settings())

    def position_settings(self) -> families.PositionSettings:
        """What the position family needs of the model (`families.PositionSettings`)."""
        raise NotImplementedError

    def settings_to_match(self) -> dict:
        """The settings a resumed run must share with the run it resumes."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.metadata["same_on_resume"]
        }

    def check_fields(self) -> None:
        """Checks each field's type and choices (`validate` checks the rest)."""
        types = field_types(type(self))
        for field in dataclasses.fields(self):
            value, kind = getattr(self, field.name), types[field.name]
            if kind is bool:
                check_bool(field.name, value)
            elif field_choices(field) is not None:
                check_choice(field.name, value, field_choices(field))
            elif kind is str and not isinstance(value, (str, type(None))):
                raise argument_error(field.name, value, "a string or None")

    def check_shared(self) -> None:
        """Checks the shared fields' values (after the width, `embed_dim`)."""
        check_int("seed", self.seed, minimum=0, maximum=2**32 - 1)  # What NumPy seeds take.
        check_divisible("num_heads", self.num_heads, "embed_dim", self.embed_dim)

    def check_applies(self, names, applies: bool, *condition) -> None:
        """Refuses the settings `names` given other values than their
        defaults when they do not apply (`applies` is false): a flag the
        chosen data ignores is an error, never silently dropped.
        `condition` (message parts) says where they apply."""
        if applies:
            return
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        for name in names:
            value = getattr(self, name)
            if value != defaults[name]:
                raise argument_error(
                    name, value, "left out here: it applies only ", *condition
                )  # fmt: skip

    def check_encoding(self) -> None:
        try:
            is_text = codecs.lookup(self.encoding)._is_text_encoding  # rot13, base64: not text.
        except LookupError:
            is_text = False
        if not is_text:
            raise argument_error(
                "encoding", self.encoding, "a text encoding Python knows, such as utf-8"
            )


def check_output_dir(path):
    existing = next(p for p in [Path(path), *Path(path).parents] if p.exists())
    if not existing.is_dir():
        raise argument_error(
            "output_dir", path, f"a directory or a new path ({existing} is a file)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argument_error("output_dir", path, f"writable ({existing} is not)")
