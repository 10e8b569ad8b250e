"""Shared test helpers: the tiny training settings and the one subprocess runner."""

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A training run that takes seconds: the trainer's tests, the comparison's,
# TensorBoard's and the command line's start from these.
# Sentences of at most 8 words fill one length bucket: one training step to
# compile, not one per bucket.
TINY = dict(
    order_train_size=320, max_words=8, epochs=2, batch_size=32, max_length=32, embed_dim=16,
    num_heads=2, ff_dim=32, num_layers=1, verbose=0,
)  # fmt: skip
# The built-in data set's settings, refused with any other.
BUILT_IN_ONLY = ("order_train_size", "max_words")


def tiny_config(output_dir, **changes):
    """A `TrainConfig` of the tiny settings (with `changes`) into `output_dir`;
    the built-in data set's settings only where they apply."""
    from keras_posemb import training

    settings = {**TINY, "output_dir": str(output_dir), **changes}
    if settings.get("dataset", "order") != "order":
        for name in BUILT_IN_ONLY:
            settings.pop(name, None)
    return training.TrainConfig(**settings)


def as_flags(settings: dict) -> list[str]:
    """Settings as keras-posemb-train's flags: `{"max_length": 32}` -> `--max-length 32`."""
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags


TINY_FLAGS = as_flags(TINY)
# For a data set of one's own: without the built-in one's size.
TINY_LOCAL_FLAGS = as_flags({k: v for k, v in TINY.items() if k not in BUILT_IN_ONLY})


def run_process(argv, cwd=None, backend=None, env=None, timeout=900):
    """Runs `argv` with this Python in a fresh process (under `backend`, if
    given, with `env` added to the environment); returns the completed process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_python(code, cwd, args=(), backend=None, env=None):
    """Runs `code` in a fresh process; asserts it succeeds and returns its stdout."""
    result = run_process(["-c", textwrap.dedent(code), *args], cwd, backend, env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def run_script(path, *args, backend=None):
    """Runs the repository's script `path` (relative to the root) with `args`."""
    return run_process([str(ROOT / path), *args], backend=backend)


def run_main(main, argv, capsys):
    """`(exit status, stdout, stderr)` of a command's `main(argv)`, in this process."""
    try:
        main(argv)
        status = 0
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def resolves_dotted_name(dotted):
    """Whether `a.b.c` is a module of the package or an attribute of one."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                value = getattr(value, attribute)
        except AttributeError:
            return False
        return True
    return False
