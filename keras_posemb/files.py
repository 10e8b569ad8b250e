"""Atomic file writes: a killed run never leaves a truncated file.

Each writer writes a temporary file (`.tmp-*`), flushes it to disk and
renames it over the target, which is atomic on POSIX file systems: the
target is either the old file or the complete new one. A failed write
removes its temporary file and leaves the target as it was. The temporary
file goes in the target's directory, or, where that directory is (or lies
in) one the package owns (`owned.OwnedDirectory`), in its private
`.keras-posemb/tmp/`:
a killed process cannot clean up, and what it leaves there is removed on
the next run without guessing from names which files are the package's.
Files get the usual permissions (0644 under the usual umask), so a
TensorBoard server running as another user can read them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TEMPORARY_PREFIX = ".tmp-"
# The private folder of a directory the package owns, and its temporaries.
PRIVATE = ".keras-posemb"
TEMPORARIES = "tmp"
# How deep inside a directory the package owns it writes (logs/positions/).
OWNED_DEPTH = 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path, suffix: str = "") -> Iterator[str]:
    """Yields a temporary path next to `path`; renames it to `path` on success.

    The writer in the `with` block writes the whole file to the temporary
    path. On an exception the temporary file is removed and `path` is left
    as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    owned = _owning_directory(directory)
    if owned is not None:  # Same file system: the rename stays atomic.
        directory = os.path.join(owned, PRIVATE, TEMPORARIES)
        os.makedirs(directory, exist_ok=True)
    # Named after the target: what a killed writer left says what it was writing.
    prefix = f"{TEMPORARY_PREFIX}{os.path.basename(path)}."
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600.
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _owning_directory(directory: str) -> str | None:
    """`directory`, or the nearest folder above it within `OWNED_DEPTH`, that
    has the package's private folder; `None` if none has."""
    for _ in range(OWNED_DEPTH + 1):
        if os.path.isdir(os.path.join(directory, PRIVATE)):
            return directory
        directory = os.path.dirname(directory)
    return None


def atomic_write_text(path, text: str) -> None:
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)


def atomic_write_json(path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_save_model(model, path) -> None:
    """`model.save(path)` for a `.keras` path, atomically."""
    with replacing(path, suffix=".keras") as temporary:
        model.save(temporary)


def atomic_save_figure(figure, path, dpi: int = 110) -> None:
    with replacing(path, suffix=os.path.splitext(path)[1]) as temporary:
        figure.savefig(temporary, dpi=dpi)
