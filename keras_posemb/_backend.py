"""Whether the Keras backend that `KERAS_BACKEND` names can be used here.

Checked before Keras is imported: an unknown name or a backend that is not
installed would otherwise end in a traceback from inside Keras' import.
"""

from __future__ import annotations

import importlib.util
import os

# The backends this package supports, and the package each needs.
SUPPORTED = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def problem() -> str | None:
    """Why the backend `KERAS_BACKEND` names cannot be used, or `None`."""
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        return None  # Keras' default (its config file, else TensorFlow).
    if name not in SUPPORTED:
        return (
            f"KERAS_BACKEND={name!r} is not a backend keras-posemb supports; expected one of "
            f"{', '.join(SUPPORTED)}."
        )
    if importlib.util.find_spec(SUPPORTED[name]) is None:
        extra = f' or pip install "keras-posemb[{name}]"' if name != "tensorflow" else ""
        return (
            f"KERAS_BACKEND={name!r} but {SUPPORTED[name]} is not installed: pip install "
            f"{SUPPORTED[name]}{extra}, or choose another backend."
        )
    return None
