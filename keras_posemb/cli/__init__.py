"""Command-line front ends: `keras-posemb-train`, `-plot`, `-compare`, `-predict`.

The trainer's flags are generated from `training.TrainConfig` (each field's
metadata holds its help text and choices), so the flags, their defaults and
the library cannot drift apart. Every user mistake ends with one line,
`error: ...`, that names the flag, the value and what is expected, and exit
status 2; `--debug` (or `KERAS_POSEMB_DEBUG=1`) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Sequence

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
        if "(default" in text or action.default is None or action.default is False:
            return text
        if action.default is argparse.SUPPRESS:
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"{text} (default: {flag(action.dest)})"
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


def add_config_flags(parser: argparse.ArgumentParser, config_class, defaults: dict | None = None):
    """One flag per field of `config_class`, typed from its annotation
    (`training.field_types`: `float | None` parses as a float)."""
    from keras_posemb.training import field_choices, field_help, field_types

    default_config = config_class(**(defaults or {}))
    types = field_types(config_class)
    for field in dataclasses.fields(config_class):
        default = getattr(default_config, field.name)
        options = {"default": default, "help": field_help(field)}
        if types[field.name] is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = types[field.name]
            options["choices"] = field_choices(field)
            options["metavar"] = field.name.upper() if options["choices"] is None else None
        parser.add_argument(flag(field.name), **options)


def config_from_args(config_class, args: argparse.Namespace):
    """The config of the parsed flags (other flags are left out)."""
    names = [field.name for field in dataclasses.fields(config_class)]
    return config_class(**{name: getattr(args, name) for name in names})


@contextlib.contextmanager
def native_stderr_silenced():
    """Silences what C++ libraries write to file descriptor 2 for a moment."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def probe_devices_quietly() -> None:
    """Lets TensorFlow look for GPUs with its C++ logging silenced.

    A CUDA build of TensorFlow on a machine without a GPU driver logs
    "E0000 ... failed call to cuInit" on its first device query, which is
    not an error for a CPU run; the trainer says which devices it uses.
    TensorFlow runs the input pipeline on every Keras backend, so this is
    done on every backend. A level chosen with TF_CPP_MIN_LOG_LEVEL is
    respected.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    import tensorflow as tf

    with native_stderr_silenced():
        tf.config.list_logical_devices()  # Creates the devices: CUDA is probed now.


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main_wrapper(main: Callable[[list[str]], None], interrupted: str = "interrupted."):
    """Runs `main(argv)` with the command line's error handling.

    The package's errors (bad settings, data, run directories) become one
    line with flags in it and exit status 2; Ctrl-C prints `interrupted`
    and exits with 130. Other exceptions are bugs and keep their traceback.
    """

    def wrapped(argv: Sequence[str] | None = None) -> None:
        argv = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in argv or os.environ.get(DEBUG_VARIABLE) == "1"
        warnings.showwarning = _show_warning
        problem = _backend.problem()
        if problem is not None:
            fail(problem)
        try:
            main(argv)
        except Error as error:
            if debug:
                traceback.print_exc()
            fail(error.render(flag_spelling))
        except KeyboardInterrupt:
            fail(interrupted, 130)

    return wrapped
