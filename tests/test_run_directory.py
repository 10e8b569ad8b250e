"""Run directories: nothing of the user's is touched, one process at a time,
and a finished run is left as it is (issue 18, items 1 to 3)."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY_FLAGS, run_main, tiny_config

from keras_posemb import training
from keras_posemb.cli import train as train_cli
from keras_posemb.errors import RunError
from keras_posemb.runs.owned import OwnedDirectory
from keras_posemb.runs.run import Run
from keras_posemb.training import compare as experiments


def snapshot(directory: Path) -> dict:
    """Every file under `directory` and the SHA-256 of its bytes (but the
    lock file, which names the last process that took the lock)."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory) != Path(".keras-posemb/lock")
    }


# What a user may keep in a folder they point --output-dir at: names a run
# writes too, and a temporary file's name.
USER_FILES = {
    "logs/notes.txt": "my notes",
    "model.keras": "my model",
    "metrics.json": '{"mine": true}',
    ".tmp-draft": "half a draft",
    "backup/thesis.tex": "chapter 1",
    "settings.json": '{"learning_rate": 3}',
}


def write_user_files(directory: Path, names=USER_FILES) -> dict:
    for name in names:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(USER_FILES[name])
    return snapshot(directory)


@pytest.mark.parametrize("name", list(USER_FILES))
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_with_the_users_files_is_refused_and_left_intact(tmp_path, name, overwrite):
    before = write_user_files(tmp_path, [name])
    with pytest.raises(RunError, match=r"is not empty \(.*\) and holds no keras-posemb run"):
        training.train(tiny_config(tmp_path, overwrite=overwrite, plots=False))
    assert snapshot(tmp_path) == before and not (tmp_path / ".keras-posemb").exists()


def test_a_foreign_settings_file_is_one_error_line_and_is_kept(tmp_path, capsys):
    before = write_user_files(tmp_path, ["settings.json"])
    status, _, err = run_main(train_cli.main, [*TINY_FLAGS, "--output-dir", str(tmp_path)], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "holds no keras-posemb run" in err and "--output-dir" in err
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    config = tiny_config(out, plots=False)
    return config, training.train(config), Run(out)


def test_overwrite_removes_only_what_the_run_wrote(finished, tmp_path):
    config, _, run = finished
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(run.directory), str(copy)], check=True)
    # The user adds files beside the run's and a folder of their own.
    (copy / "my_notes.txt").write_text("keep me")
    (copy / "analysis").mkdir()
    (copy / "analysis" / "figure.png").write_bytes(b"png")
    (copy / ".tmp-mine").write_text("keep me too")
    mine = {k: v for k, v in snapshot(copy).items() if k.split("/")[0] in (
        "my_notes.txt", "analysis", ".tmp-mine")}  # fmt: skip
    metrics = training.train(dataclasses.replace(config, output_dir=str(copy), overwrite=True))
    assert metrics["epochs_this_run"] == 2
    after = snapshot(copy)
    assert {k: after[k] for k in mine} == mine


def test_overwrite_keeps_a_users_files_inside_the_runs_own_folders(finished, tmp_path):
    """logs/ is the run's folder, but a file the user puts there is theirs."""
    config, _, run = finished
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(run.directory), str(copy)], check=True)
    (copy / "logs" / "notes.txt").write_text("what I saw in TensorBoard")
    (copy / "logs" / "train" / "mine.txt").write_text("keep me")
    (copy / "logs" / "my_empty_folder").mkdir()
    old_events = sorted(copy.glob("logs/*/events.out.tfevents.*"))
    assert old_events
    training.train(dataclasses.replace(config, output_dir=str(copy), overwrite=True))
    assert (copy / "logs" / "notes.txt").read_text() == "what I saw in TensorBoard"
    assert (copy / "logs" / "train" / "mine.txt").read_text() == "keep me"
    assert (copy / "logs" / "my_empty_folder").is_dir()
    assert not any(path.exists() for path in old_events)  # The earlier run's logs are gone.
    assert sorted(copy.glob("logs/*/events.out.tfevents.*"))  # This run's are there.
    Run(copy).clear()  # Everything of the run's goes, the user's stays.
    left = sorted(
        str(p.relative_to(copy)) for p in copy.rglob("*") if ".keras-posemb" not in str(p)
    )
    assert left == [
        "logs",
        "logs/my_empty_folder",
        "logs/notes.txt",
        "logs/train",
        "logs/train/mine.txt",
    ]


def test_a_manifest_written_before_file_ownership_still_owns_its_folders(finished, tmp_path):
    config, _, run = finished
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(run.directory), str(copy)], check=True)
    manifest_path = copy / ".keras-posemb" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["contents"]  # As 0.2.0 and earlier wrote it.
    manifest_path.write_text(json.dumps(manifest))
    Run(copy).clear()
    assert not (copy / "logs").exists() and not (copy / "model.keras").exists()


def test_owned_files_inside_folders_by_path_and_by_pattern(tmp_path):
    owned = OwnedDirectory(tmp_path, "run")
    with owned.locked():
        owned.claim("logs")
        (tmp_path / "logs" / "a").mkdir(parents=True)
        owned.claim("logs/a/exact[1].txt")
        owned.claim_pattern("logs/*/events.*")
        for name in ("logs/a/exact[1].txt", "logs/a/events.1", "logs/b/events.2", "logs/a/yours"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(name)
        assert owned.owns("logs/a/exact[1].txt") and owned.owns("logs/b/events.2")
        assert not owned.owns("logs/a/yours") and not owned.owns("logs/a/exact1.txt")
        with pytest.raises(RunError, match=r"yours is not keras-posemb's"):
            owned.claim("logs/a/yours")
        with pytest.raises(ValueError, match="not inside a folder claimed"):
            owned.claim("other/file")
        owned.remove("logs")
        assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "logs").rglob("*")) == [
            "logs/a",
            "logs/a/yours",
        ]
        assert owned.entries() == ["logs"]  # Kept, with the user's file in it.
        (tmp_path / "logs" / "a" / "yours").unlink()
        (tmp_path / "logs" / "a").rmdir()
        owned.remove("logs")  # Nothing left in it: removed.
        assert not (tmp_path / "logs").exists() and owned.entries() == []


def test_a_users_backup_folder_inside_a_run_is_not_taken_for_checkpoints(finished, tmp_path):
    config, _, run = finished
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(run.directory), str(copy)], check=True)
    (copy / "backup").mkdir()
    (copy / "backup" / "thesis.tex").write_text("chapter 1")
    before = snapshot(copy / "backup")
    changed = dataclasses.replace(config, output_dir=str(copy), overwrite=True)
    with pytest.raises(
        RunError, match=r"backup is not keras-posemb's .* neither used nor replaced"
    ):
        training.train(changed)
    assert snapshot(copy / "backup") == before


def test_a_finished_run_rerun_is_left_as_it_is(finished, capsys):
    config, metrics, run = finished
    before = snapshot(run.directory)
    again = training.train(dataclasses.replace(config, verbose=1))
    assert again == metrics and snapshot(run.directory) == before
    out = capsys.readouterr().out
    assert "is a finished run with these settings" in out and "left as they are" in out


def test_a_damaged_manifest_or_settings_file_is_refused_without_a_traceback(finished, tmp_path):
    config, _, run = finished
    for damaged, match in [
        (".keras-posemb/manifest.json", r"manifest.json is damaged or not keras-posemb's"),
        ("settings.json", r"settings.json is damaged, so the run cannot be resumed"),
    ]:
        copy = tmp_path / damaged.replace("/", "_")
        subprocess.run(["cp", "-a", str(run.directory), str(copy)], check=True)
        (copy / damaged).write_text("{not json")
        with pytest.raises(RunError, match=match):
            training.train(dataclasses.replace(config, output_dir=str(copy)))


def test_a_run_folder_is_not_taken_for_a_comparison(finished):
    config, _, run = finished
    with pytest.raises(RunError, match=r"holds a keras-posemb run, not a comparison"):
        experiments.compare_encodings(config, seeds=1, positions=("none",), log=lambda *a: None)


HOLD_THE_LOCK = """
import sys, time
from keras_posemb.runs.owned import OwnedDirectory
with OwnedDirectory(sys.argv[1], sys.argv[2]).locked():
    print("locked", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["run", "comparison"])
def test_a_second_process_is_refused_while_one_writes_and_a_kill_frees_the_lock(tmp_path, kind):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path / "out"), kind],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        config = tiny_config(tmp_path / "out", plots=False, epochs=1)
        with pytest.raises(RunError, match=rf"in use by another process \(process {holder.pid}, "):
            if kind == "run":
                training.train(config)
            else:
                experiments.compare_encodings(config, seeds=1, positions=("none",))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not (tmp_path / "out" / "settings.json").exists()  # Nothing was written.
    with OwnedDirectory(tmp_path / "out", kind).locked():  # The OS dropped the dead one's lock.
        pass


def test_two_trainers_started_together_one_runs_one_is_refused(tmp_path):
    """Two real trainer processes on one --output-dir, started at once."""
    command = [sys.executable, "-m", "keras_posemb.cli.train", *TINY_FLAGS, "--no-plots"]
    command += ["--output-dir", str(tmp_path / "out")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    both = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    errors = [process.communicate(timeout=600)[1] for process in both]
    statuses = sorted(process.returncode for process in both)
    assert statuses == [0, 2], errors
    refused = errors[[p.returncode for p in both].index(2)]
    assert "is in use by another process (process " in refused
    assert Run(tmp_path / "out").is_complete()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["epochs_this_run"] == 2  # Not disturbed by the refused one.


def test_an_empty_folder_is_used_and_the_private_folder_holds_the_temporaries(tmp_path):
    owned = OwnedDirectory(tmp_path, "run")
    with owned.locked():
        owned.claim("a.txt")
        from keras_posemb import files

        with files.replacing(tmp_path / "a.txt") as temporary:
            assert Path(temporary).parent == tmp_path / ".keras-posemb" / "tmp"
            Path(temporary).write_text("done")
        (tmp_path / ".keras-posemb" / "tmp" / ".tmp-killed").write_text("left by a kill")
        (tmp_path / ".keras-posemb" / ".tmp-manifest").write_text("a manifest write, killed")
    with owned.locked():  # The next process clears what a killed writer left.
        assert not list((tmp_path / ".keras-posemb" / "tmp").glob("*"))
        assert sorted(p.name for p in (tmp_path / ".keras-posemb").iterdir()) == [
            "lock",
            "manifest.json",
        ]
    assert owned.entries() == ["a.txt"] and (tmp_path / "a.txt").read_text() == "done"


def test_a_process_killed_before_its_manifest_leaves_a_usable_directory(tmp_path):
    """Killed between making the private folder and writing the manifest:
    what is left is recognizably the package's, and the next run goes on."""
    private = tmp_path / "out" / ".keras-posemb"
    (private / "tmp").mkdir(parents=True)
    (private / "lock").write_text("process 1, started ...")
    (private / ".tmp-manifest.json.x").write_text("{")
    owned = OwnedDirectory(tmp_path / "out", "run")
    with owned.locked():
        assert owned.is_ours() and owned.entries() == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".keras-posemb").mkdir()
    (tmp_path / "mine" / ".keras-posemb" / "notes.txt").write_text("a user's")
    with pytest.raises(RunError, match="holds no keras-posemb run"):
        with OwnedDirectory(tmp_path / "mine", "run").locked():
            pass
