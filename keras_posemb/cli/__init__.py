"""Command-line front ends: one module per console script (`train`,
`predict`, `plot`, `compare`, `lm`, `generate`, `train_images`), each a thin
layer over the library.

A trainer's flags are generated from its settings dataclass (`TrainConfig`,
`LanguageModelConfig`, `ImageTrainConfig`: each field's metadata holds its
help text and choices), so the flags, their defaults and the library cannot
drift apart. Every user mistake ends with one line, `error: ...`, that
names the flag, the value and what is expected, and exit status 2;
`--debug` (or `KERAS_POSEMB_DEBUG=1`) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from keras_posemb import _backend
from keras_posemb.errors import Error, Setting

DEBUG_VARIABLE = "KERAS_POSEMB_DEBUG"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flag_spelling(setting: Setting) -> str:
    """How the command line spells a setting: `--learning-rate 0`, `--no-plots`."""
    if not setting.has_value or setting.value is True:
        return flag(setting.name)
    if setting.value is False:
        return "--no-" + setting.name.replace("_", "-")
    return f"{flag(setting.name)} {setting.value}"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows each default once.

    A default is added to a flag's help unless the help already says it,
    or there is nothing to say (no default, or an off switch).
    """

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action):
        text = action.help or ""
        if isinstance(action, argparse.BooleanOptionalAction):
            switch = flag(action.dest) if action.default else "--no-" + flag(action.dest)[2:]
            return f"{text} (default: {switch})"
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: {action.default})"

    def _split_lines(self, text, width):
        # Flags such as --no-norm-first stay whole.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line, `error: ...`, exit 2."""

    def __init__(self, **kwargs):
        super().__init__(formatter_class=HelpFormatter, **kwargs)
        self.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def error(self, message):
        fail(f"{message} (see {self.prog} --help)")


def fail(message: str, status: int = 2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def split_docstring(doc: str) -> tuple[str, str]:
    """A module docstring's first paragraph (description) and the rest (epilog)."""
    first, _, rest = doc.strip().partition("\n\n")
    return first, rest


def add_config_flags(
    parser: argparse.ArgumentParser, config_class, defaults: dict | None = None, exclude=()
):
    """One flag per field of `config_class` but those in `exclude`, typed from
    its annotation (`training.field_types`: `float | None` parses as a float).

    A field whose default `defaults` changes shows that default in its help,
    not the one its help text names (another command's own defaults).
    """
    from keras_posemb.settings import (
        field_choices,
        field_help,
        field_types,
        fields_in_flag_order,
    )

    defaults = defaults or {}
    default_config = config_class(**defaults)
    types = field_types(config_class)
    for field in fields_in_flag_order(config_class):
        if field.name in exclude:
            continue
        help = field_help(field)
        if field.name in defaults:
            help = re.sub(r"\s*\(default: [^)]*\)", "", help)
        options = {"default": getattr(default_config, field.name), "help": help}
        if types[field.name] is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = types[field.name]
            options["choices"] = field_choices(field)
            options["metavar"] = field.name.upper() if options["choices"] is None else None
        parser.add_argument(flag(field.name), **options)


def config_from_args(config_class, args: argparse.Namespace, defaults: dict | None = None):
    """The config of the parsed flags (other flags are left out); fields
    without a flag take `defaults`, else the config's own default."""
    names = [field.name for field in dataclasses.fields(config_class) if hasattr(args, field.name)]
    return config_class(**{**(defaults or {}), **{name: getattr(args, name) for name in names}})


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main_wrapper(
    parse: Callable[[list[str]], Any],
    run: Callable[[Any], None],
    interrupted: str = "interrupted.",
):
    """A command's `main(argv)`: `parse(argv)` checks the command line
    without loading Keras, then `run(parsed)` does the work.

    The console scripts' launcher (`keras_posemb_cli`) loads Keras between
    the two, so that a mistyped flag is refused at once; it passes that step
    as `load`. The package's errors (bad settings, data, run directories)
    become one line with flags in it and exit status 2; Ctrl-C prints
    `interrupted` and exits with 130, SIGTERM during training with 143
    (128 + the signal's number). Other exceptions are bugs and keep their
    traceback.
    """

    def wrapped(argv: Sequence[str] | None = None, load: Callable[[], None] = lambda: None):
        argv = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in argv or os.environ.get(DEBUG_VARIABLE) == "1"
        warnings.showwarning = _show_warning
        problem = _backend.problem()
        if problem is not None:
            fail(problem)
        try:
            parsed = parse(argv)
            load()
            run(parsed)
        except Error as error:
            if debug:
                traceback.print_exc()
            fail(error.render(flag_spelling))
        except KeyboardInterrupt as error:
            fail(interrupted, 128 + getattr(error, "signum", signal.SIGINT))

    return wrapped
