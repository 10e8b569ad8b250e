"""Directories the package writes into: what it owns there, and who is writing.

A run directory (and a comparison's folder) keeps a private folder,
`.keras-posemb/`, with

    manifest.json   every file and folder the package wrote here
                    (`entries`), and inside those folders the files it
                    wrote, by path or by name pattern (`contents`); it is
                    what makes the directory the package's
    lock            an OS lock (`fcntl.flock`) held while a process writes
                    here, with that process's id and command line
    tmp/            temporary files of atomic writes (`files.replacing`)

The rules, so that nothing of the user's is ever deleted:

- A directory without a manifest is the user's: it is used only if it is
  empty (or new). Nothing in it is taken for a run's files by its name.
- A name is added to the manifest before it is written (`claim`), so that a
  process killed mid-write leaves nothing unlisted; a name that already
  exists but is not listed is the user's, and is refused.
- Inside a folder the package created (`logs/`, `backup/`) only the files
  it claimed are its own: by path, or by a name pattern claimed before a
  writer that picks its own names starts (TensorBoard names its event
  files by time, host and process id). A file a user puts there is theirs.
- `remove_own` removes only what the manifest lists, and a folder only once
  nothing is left in it.
- One process at a time: `locked()` takes the lock or refuses at once,
  naming the process that holds it. The OS drops the lock when that process
  dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import fnmatch
import glob
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from keras_posemb import files
from keras_posemb.errors import RunError, Setting

PRIVATE = files.PRIVATE
MANIFEST = "manifest.json"
LOCK = "lock"
FORMAT = "keras-posemb"


class OwnedDirectory:
    """A directory that the package writes into, by path.

    Args:
        directory: the path.
        kind: what the package keeps there (`"run"`, `"comparison"`); a
            directory of one kind is refused as another.
    """

    def __init__(self, directory: str | os.PathLike, kind: str):
        self.directory = Path(directory)
        self.kind = kind
        self._lock_file = None

    @property
    def private(self) -> Path:
        return self.directory / PRIVATE

    def _read_manifest(self) -> dict | None:
        """The manifest, or `None` if there is none; `RunError` if it is not ours."""
        path = self.private / MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            valid = manifest["format"] == FORMAT and isinstance(manifest["entries"], list)
            valid = valid and isinstance(manifest.setdefault("contents", None), (list, type(None)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            raise RunError(
                f"{path} is damaged or not keras-posemb's, so what was written in "
                f"{self.directory} cannot be told apart from your files. Use another ",
                Setting("output_dir"), ".",
            )  # fmt: skip
        if manifest.get("kind") != self.kind:
            raise RunError(
                f"{self.directory} holds a keras-posemb {manifest.get('kind')}, not a "
                f"{self.kind}; use another ", Setting("output_dir"), ".",
            )  # fmt: skip
        if manifest["contents"] is None:  # Written before 0.3.0: its folders were its own, whole.
            folders = [name for name in manifest["entries"] if (self.directory / name).is_dir()]
            manifest["contents"] = [glob.escape(name) + "/*" for name in folders]
        return manifest

    def is_ours(self) -> bool:
        return self._read_manifest() is not None

    def entries(self) -> list[str]:
        """The names the package wrote here (top level), in the order written."""
        manifest = self._read_manifest()
        return list(manifest["entries"]) if manifest else []

    def _contents(self) -> list[str]:
        manifest = self._read_manifest()
        return list(manifest["contents"]) if manifest else []

    def existing(self) -> list[Path]:
        """The paths of the manifest's entries that exist now."""
        return [self.directory / name for name in self.entries() if self.path_exists(name)]

    def path_exists(self, name: str) -> bool:
        return os.path.lexists(self.directory / name)

    def owns(self, name: str) -> bool:
        """Whether the file or folder `name` (a path relative to the directory)
        is the package's: a listed entry, or a file inside a listed folder
        that the manifest's contents name."""
        if "/" not in name:
            return name in self.entries()
        return name.split("/")[0] in self.entries() and any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self._contents()
        )

    def _write_manifest(self, entries: list[str], contents: list[str]) -> None:
        manifest = {"format": FORMAT, "kind": self.kind, "entries": entries, "contents": contents}
        files.atomic_write_json(self.private / MANIFEST, manifest)

    def claim(self, *names: str) -> None:
        """Adds `names` to the manifest, before they are written: top-level
        files or folders, or paths of files inside a folder already claimed
        (`"logs/positions/projector_config.pbtxt"`).

        Raises:
            RunError: for a name that exists but is not the package's.
        """
        entries, contents = self.entries(), self._contents()
        new = [name for name in dict.fromkeys(names) if not self.owns(name)]
        for name in new:
            if self.path_exists(name):
                raise RunError(
                    f"{self.directory / name} is not keras-posemb's (a run did not write it), "
                    "so it is neither used nor replaced. Move it away, or use another ",
                    Setting("output_dir"), ".",
                )  # fmt: skip
            if "/" in name:
                self._check_inside_an_entry(name, entries)
        if new:
            top = [name for name in new if "/" not in name]
            inside = [glob.escape(name) for name in new if "/" in name]
            self._write_manifest(entries + top, contents + inside)

    def claim_pattern(self, pattern: str) -> None:
        """Adds a name pattern (`fnmatch`: `*` matches any characters, `/`
        included) of files inside a folder already claimed, before a writer
        that chooses the names itself creates them."""
        entries, contents = self.entries(), self._contents()
        self._check_inside_an_entry(pattern, entries)
        if pattern not in contents:
            self._write_manifest(entries, contents + [pattern])

    def _check_inside_an_entry(self, name, entries):
        if name.split("/")[0] not in entries:
            raise ValueError(f"{name!r} is not inside a folder claimed in {self.directory}.")

    def check_usable(self) -> None:
        """Refuses a directory that holds files but is not the package's.

        Raises:
            RunError: naming a few of the files found.
        """
        if not self.directory.exists() or self.is_ours():
            return
        found = sorted(entry.name for entry in self.directory.iterdir())
        if found == [PRIVATE] and self._is_an_unfinished_start():
            return
        if found:
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            raise RunError(
                f"{self.directory} is not empty ({shown}) and holds no keras-posemb {self.kind}, "
                "so nothing there is touched. Use an empty or new ", Setting("output_dir"), ".",
            )  # fmt: skip

    def _is_an_unfinished_start(self) -> bool:
        """Whether the private folder holds only what a process killed before
        writing the manifest leaves: the lock file, temporaries."""
        left = [path.name for path in self.private.iterdir()]
        return all(
            name in (LOCK, files.TEMPORARIES) or name.startswith(files.TEMPORARY_PREFIX)
            for name in left
        )

    @contextlib.contextmanager
    def locked(self) -> Iterator[OwnedDirectory]:
        """Creates the directory if needed and holds its lock for the `with` block.

        Raises:
            RunError: when the directory is not the package's and not empty,
                cannot be created, or another process holds the lock.
        """
        self.check_usable()
        try:
            self.private.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunError(
                f"Cannot create the output directory {self.directory} ({error.strerror}); "
                "choose another ", Setting("output_dir"), ".",
            ) from None  # fmt: skip
        handle = open(self.private / LOCK, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise RunError(
                    f"{self.directory} is in use by another process "
                    f"({handle.read().strip() or 'unknown'}); wait for it to end, or use another ",
                    Setting("output_dir"), ".",
                ) from None  # fmt: skip
            handle.seek(0)
            handle.truncate()
            started = datetime.datetime.now().isoformat(timespec="seconds")
            handle.write(f"process {os.getpid()}, started {started}: {' '.join(sys.argv)}\n")
            handle.flush()
            if not self.is_ours():
                self._write_manifest([], [])
            self.remove_stale_temporaries()
            yield self
        finally:
            handle.close()  # Releases the lock.

    def remove_stale_temporaries(self) -> None:
        """Removes what killed writers left in the private folder (all of it the
        package's): `tmp/`, and a manifest write's own temporary file."""
        shutil.rmtree(self.private / files.TEMPORARIES, ignore_errors=True)
        for path in self.private.glob(files.TEMPORARY_PREFIX + "*"):
            path.unlink()

    def remove(self, *names: str) -> None:
        """Removes the listed top-level `names` and takes them off the manifest:
        a file of that name made later is the user's. A folder loses the
        files the manifest's contents name; it is removed, and taken off the
        manifest, once nothing else is left in it."""
        entries, contents = self.entries(), self._contents()
        kept = []
        for name in names:
            if name not in entries or not self.path_exists(name):
                continue
            path = self.directory / name
            if path.is_dir() and not path.is_symlink():
                self._remove_own_files(name, contents)
                if any(path.iterdir()):
                    kept.append(name)
                    continue
                path.rmdir()
            else:
                path.unlink()
        gone = [name for name in names if name not in kept]
        inside_gone = [pattern for pattern in contents if pattern.split("/")[0] in gone]
        self._write_manifest(
            [name for name in entries if name not in gone],
            [pattern for pattern in contents if pattern not in inside_gone],
        )

    def _remove_own_files(self, folder: str, contents: list[str]) -> None:
        """Removes the files under `folder` that `contents` names, then the
        subfolders that held them and are empty now."""
        emptied = set()
        for root, directories, names in os.walk(self.directory / folder, topdown=False):
            relative = Path(root).relative_to(self.directory).as_posix()
            for name in names:
                if any(fnmatch.fnmatchcase(f"{relative}/{name}", p) for p in contents):
                    os.unlink(os.path.join(root, name))
                    emptied.add(root)
            for name in directories:
                child = os.path.join(root, name)
                if child in emptied and not os.path.islink(child) and not os.listdir(child):
                    os.rmdir(child)
                    emptied.add(root)

    def remove_own(self) -> None:
        """Removes every file and folder the manifest lists, and nothing else."""
        self.remove(*self.entries())
        self.remove_stale_temporaries()
