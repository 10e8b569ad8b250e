"""Atomic file writes: a killed run never leaves a truncated file.

Each writer writes a temporary file in the target's directory and renames it
over the target, which is atomic on POSIX file systems.
"""

import json
import os
import tempfile
from contextlib import contextmanager


@contextmanager
def _replacing(path, suffix=""):
    """Yields a temporary path next to `path`; renames it to `path` on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_text(path, text):
    with _replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_save_model(model, path):
    """`model.save(path)` for a `.keras` path, atomically."""
    with _replacing(path, suffix=".keras") as temporary:
        model.save(temporary)


def atomic_save_figure(figure, path, dpi=110):
    with _replacing(path, suffix=os.path.splitext(path)[1]) as temporary:
        figure.savefig(temporary, dpi=dpi)
