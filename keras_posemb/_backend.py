"""What is installed here: whether the Keras backend can be used, and the
optional packages some features need.

The backend is checked before Keras is imported: an unknown name or a
backend that is not installed would otherwise end in a traceback from
inside Keras' import. A missing optional package is named with the
command that installs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

# The backends this package supports, and the package each needs.
SUPPORTED = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


# The optional packages: the name pip knows, and the extra that brings it.
OPTIONAL = {
    "tensorflow": ("TensorFlow", "tensorflow"),
    "matplotlib": ("matplotlib", "demos"),
    "tensorflow_datasets": ("tensorflow-datasets", "demos"),
    "PIL": ("Pillow", "demos"),
}


def install_command(extra: str) -> str:
    return f'pip install "keras-posemb[{extra}]"'


def installed(package: str) -> bool:
    """Whether `package` can be imported (without importing it)."""
    return importlib.util.find_spec(package) is not None


def require(package: str, purpose: str) -> None:
    """Raises `DependencyError` unless the optional `package` (a key of
    `OPTIONAL`) is installed: `purpose`, such as "The text classifier's
    pipeline", needs it. The message names the command that installs it."""
    if not installed(package):
        from keras_posemb.errors import DependencyError

        name, extra = OPTIONAL[package]
        raise DependencyError(
            f"{purpose} needs {name}, which is not installed: {install_command(extra)}."
        )


def _configured_backend() -> str | None:
    """The backend of Keras' config file, if it names one."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as file:
            return json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def name() -> str:
    """The backend Keras uses, or will use once it loads (its own rule:
    `KERAS_BACKEND`, then its config file, then tensorflow)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND") or _configured_backend() or "tensorflow"


def problem() -> str | None:
    """Why the backend Keras would use cannot be used, or `None`."""
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        default = _configured_backend() or "tensorflow"
        if default in SUPPORTED and not installed(SUPPORTED[default]):
            return (
                f"Keras' backend is {default} (its default here) but {SUPPORTED[default]} is "
                "not installed: set KERAS_BACKEND to jax or torch, with that package "
                f"installed, or {install_command(default)}."
            )
        return None
    if name not in SUPPORTED:
        return (
            f"KERAS_BACKEND={name!r} is not a backend keras-posemb supports; expected one of "
            f"{', '.join(SUPPORTED)}."
        )
    if not installed(SUPPORTED[name]):
        return (
            f"KERAS_BACKEND={name!r} but {SUPPORTED[name]} is not installed: "
            f"{install_command(name)}, or choose another backend."
        )
    return None
