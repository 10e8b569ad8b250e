"""The console scripts' entry points (`keras-posemb-train`, `-plot`, ...).

They run before `keras_posemb` is imported, and with it Keras and
TensorFlow, so that a command does what every command should at start-up,
in one place:

- The command line is checked before Keras loads, so that a mistyped flag
  or `--help` answers at once instead of after the seconds Keras and
  TensorFlow take to import: the package's `__init__`, which loads them,
  is held back while the command parses its arguments with the modules
  that need no Keras (`keras_posemb.settings`, the registry's names), and
  runs between the command's two steps (`keras_posemb.cli.main_wrapper`).

- The C++ logs of TensorFlow and XLA are not printed: the start-up block
  (oneDNN, CUDA drivers, and on machines without a GPU "failed call to
  cuInit"), written to file descriptor 2 while TensorFlow loads and first
  looks for devices, and later lines such as "Ignoring Assert operator"
  (XLA compiles a range check away; the result is NaN-poisoned instead) or
  tf.data's notes. None is an error for the command: what fails is raised
  as a Python exception. `TF_CPP_MIN_LOG_LEVEL` is set to 3 for the process
  unless it is set already; a level chosen there is respected (nothing is
  silenced then, `TF_CPP_MIN_LOG_LEVEL=0` shows everything).
- Ctrl-C while the libraries load ends the process at once with one line
  and status 130, as it does later (`keras_posemb.cli.main_wrapper`).

The commands themselves live in `keras_posemb.cli`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
import types


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silences what C++ libraries write to file descriptor 2 for a moment
    (Python's own `sys.stderr` is flushed first, and restored after)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _interrupt_ends_the_process():
    """Ctrl-C exits at once (one line, status 130) instead of raising
    `KeyboardInterrupt`: raised inside an import, library code that catches
    every exception can swallow it, and the command would go on. Nothing has
    been written yet, so there is nothing to clean up."""
    stderr = os.dup(2)  # The terminal's, also while descriptor 2 is silenced.

    def exit_now(signum, frame):
        os.write(stderr, b"error: interrupted.\n")
        os._exit(130)

    previous = signal.signal(signal.SIGINT, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        os.close(stderr)


def _package_held_back() -> types.ModuleType:
    """The `keras_posemb` package, its `__init__` (which loads Keras) not
    run yet: its submodules that need no Keras can be imported."""
    spec = importlib.util.find_spec("keras_posemb")
    package = importlib.util.module_from_spec(spec)
    sys.modules["keras_posemb"] = package
    return package


def _loader_of(package: types.ModuleType):
    """Runs the package's `__init__`, quietly: Keras and its backend load,
    and the layers become known to Keras (for loading `.keras` files)."""

    def load():
        quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        if quiet:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        with _interrupt_ends_the_process():
            with _native_stderr_silenced() if quiet else contextlib.nullcontext():
                package.__spec__.loader.exec_module(package)
                if quiet:
                    _probe_devices()

    return load


def _probe_devices():
    """Lets TensorFlow, where installed, look for GPUs now, while its logging
    is silenced; it runs the text pipeline and the TensorBoard writers on
    every Keras backend."""
    import keras_posemb

    # With a backend problem, the command says why in one line.
    if keras_posemb._BACKEND_PROBLEM is None and importlib.util.find_spec("tensorflow"):
        import tensorflow as tf

        tf.config.list_logical_devices()


def _command(name: str):
    def main() -> None:
        if "keras_posemb" in sys.modules:  # Called from Python, the package loaded.
            load = lambda: None  # noqa: E731
        else:
            load = _loader_of(_package_held_back())
        importlib.import_module(f"keras_posemb.cli.{name}").main(load=load)

    main.__doc__ = f"Runs `keras_posemb.cli.{name}.main` (see the module docstring)."
    return main


train = _command("train")
plot = _command("plot")
compare = _command("compare")
predict = _command("predict")
lm = _command("lm")
generate = _command("generate")
train_images = _command("train_images")
