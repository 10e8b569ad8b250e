import os
import stat
from pathlib import Path

import pytest

from keras_posemb import files


def test_atomic_save_keeps_the_old_file_when_saving_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")

    class Failing:
        def save(self, path):
            Path(path).write_bytes(b"partial")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_save_model(Failing(), str(target))
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.keras"]


def test_written_files_are_readable_by_others(tmp_path):
    previous = os.umask(0o022)
    try:
        files.atomic_write_text(tmp_path / "a.txt", "hello")
        files.atomic_write_json(tmp_path / "b.json", {"x": 1})
    finally:
        os.umask(previous)
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644


def test_the_umask_is_respected(tmp_path):
    previous = os.umask(0o077)
    try:
        files.atomic_write_text(tmp_path / "private.txt", "hello")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "private.txt").st_mode) == 0o600
