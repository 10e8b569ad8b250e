"""Kill real training runs at random moments and check that nothing is lost.

Each trial starts `keras-posemb-train` (a small model on the built-in data
set) in a fresh directory and kills it with SIGKILL, then reruns the same
command, killing it again while it is in the same kind of moment, until a
run completes. Three kinds of moment:

- `random`: at a uniformly random time of the run, start-up included;
- `checkpoint`: while a checkpoint is being written (a temporary file
  exists in backup/);
- `final`: while the final files are being written (a temporary file exists
  in the run directory's private `.keras-posemb/tmp/`).

And `signal`: Ctrl-C (SIGINT) or SIGTERM, chosen at random, at a random
time: the trainer must end within `SIGNAL_SECONDS` (the step in progress,
saving the epoch so far, and the process's exit, which TensorFlow makes
take about a second), and the rerun continue from there.

After each trial it checks that the run is complete (backup/ removed,
metrics.json written), that model.keras loads with safe_mode and gives the
recorded test accuracy, that every epoch was trained, that no temporary file
is left, and that the metrics equal those of an uninterrupted run with the
same seed to the last digit.

Two more kinds of trial, with no kill:

- `concurrent`: two trainers started at once on one directory: one must
  run to the end (complete and exact, as above), the other be refused at
  once naming the process that holds the directory;
- `user_files`: files of the user's, named as a run's files are, in the
  output directory: the trainer must refuse it with and without
  `--overwrite`; then beside a finished run and inside its logs/ folder,
  where `--overwrite` must retrain and leave them. Every user file is
  checked byte for byte.

    python benchmarks/faults.py [--trials 10] [--kills 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MOMENTS = ("random", "checkpoint", "final", "signal")
# The longest a trainer may take to end after Ctrl-C or SIGTERM: a step,
# writing the epoch so far and exiting, on a machine busy with other tests.
SIGNAL_SECONDS = 10.0
OTHER_TRIALS = ("concurrent", "user_files")
# The folder of user files that `user_files_trial` puts beside a finished run.
USER_FOLDER = "mine"
# Files a user may keep where a run writes, under the names a run uses.
USER_FILES = {
    "logs/notes.txt": b"my notes",
    "model.keras": b"my model",
    "metrics.json": b'{"mine": true}',
    ".tmp-draft": b"a draft",
    "backup/thesis.tex": b"chapter 1",
    "settings.json": b'{"learning_rate": 3}',
}
FLAGS = [
    "--order-train-size",
    "1024",
    "--max-words",  # One length bucket: one training step to compile.
    "8",
    "--epochs",
    "4",
    "--patience",
    "0",
    "--batch-size",
    "32",
    "--max-length",
    "32",
    "--embed-dim",
    "16",
    "--num-heads",
    "2",
    "--ff-dim",
    "32",
    "--num-layers",
    "1",
    "--verbose",
    "0",
]
COMPARED = ("test_accuracy", "val_accuracy", "test_loss", "best_epoch", "validation_curve")


def train_command(output_dir):
    return [sys.executable, "-m", "keras_posemb.cli.train", *FLAGS, "--output-dir", str(output_dir)]


EPOCHS = int(FLAGS[FLAGS.index("--epochs") + 1])


def in_moment(directory: Path, moment: str) -> bool:
    """Whether the run in `directory` is writing a checkpoint, or its final files."""
    temporaries = directory / ".keras-posemb" / "tmp"  # Named after their targets.
    if moment == "checkpoint":
        return _any_file(temporaries, ".tmp-epoch-*") or _any_file(temporaries, ".tmp-state.json.*")
    try:  # The final files come once the last epoch's checkpoint is written.
        state = json.loads((directory / "backup" / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return state["epoch"] == EPOCHS and _any_file(temporaries, ".tmp-*")


def _any_file(folder: Path, pattern: str) -> bool:
    """Whether `folder` holds a file matching `pattern`; the trainer may
    remove the folder while it is read."""
    try:
        return any(folder.glob(pattern))
    except FileNotFoundError:
        return False


def run_and_kill(output_dir: Path, moment: str, duration: float, rng: random.Random) -> bool:
    """Runs the trainer, killing it at `moment`; returns whether it was killed.

    Raises:
        AssertionError: when a trainer sent SIGINT or SIGTERM takes longer than
            `SIGNAL_SECONDS` to end, or ends with another status.
    """
    process = subprocess.Popen(
        train_command(output_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    timed = moment in ("random", "signal")
    deadline = time.monotonic() + (rng.uniform(0.5, duration) if timed else 1e9)
    while process.poll() is None:
        due = time.monotonic() >= deadline
        if due or (not timed and in_moment(output_dir, moment)):
            if moment == "signal":
                return _end_by_signal(process, rng.choice([signal.SIGINT, signal.SIGTERM]))
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0005)
    return False


def _end_by_signal(process, signum) -> bool:
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        status = process.wait(timeout=SIGNAL_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(
            f"{signum.name} took longer than {SIGNAL_SECONDS} s to end training"
        ) from None
    # 128 + the signal: ended by the trainer; -signal: before its handler
    # was in place (start-up); 0: it had just finished.
    if status not in (0, 128 + signum, -signum):
        raise AssertionError(f"{signum.name} ended the trainer with status {status}")
    SIGNAL_DELAYS.append(time.monotonic() - sent)
    return status != 0


SIGNAL_DELAYS = []


def check_run(output_dir: Path, reference: dict) -> list[str]:
    """What is wrong with a finished run directory (nothing: an empty list)."""
    code = (
        "import json, sys, numpy as np\n"
        "from keras_posemb import data\nfrom keras_posemb.runs.run import Run\n"
        "run = Run(sys.argv[1]); metrics = run.read_metrics()\n"
        "model = run.load_model(); settings = run.read_settings()['settings']\n"
        "test = data.load_dataset('order', order_train_size=settings['order_train_size'], "
        "max_words=settings['max_words'], seed=settings['seed']).test\n"
        "ids = np.asarray(run.vectorizer()(test.texts))[:, :settings['max_length']]\n"
        "accuracy = float(np.mean(np.argmax(model.predict(ids, verbose=0), 1) == test.labels))\n"
        "print(json.dumps({'accuracy': accuracy}))\n"
    )
    problems = []
    if (output_dir / "backup").exists() or not (output_dir / "metrics.json").exists():
        return ["the run is not complete"]
    metrics = json.loads((output_dir / "metrics.json").read_text())
    if metrics["epochs_trained"] != reference["epochs_trained"]:
        problems.append(
            f"{metrics['epochs_trained']} epochs trained, not {reference['epochs_trained']}"
        )
    for key in COMPARED:
        if metrics[key] != reference[key]:
            problems.append(f"{key} differs from the uninterrupted run's")
    leftovers = [  # Not in the user's own folder (`user_files_trial`).
        str(p)
        for p in output_dir.rglob(".tmp-*")
        if USER_FOLDER not in p.relative_to(output_dir).parts
    ]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(output_dir)], capture_output=True, text=True
    )
    if loaded.returncode:
        problems.append(f"model.keras does not load: {loaded.stderr[-300:]}")
    elif (
        abs(json.loads(loaded.stdout.splitlines()[-1])["accuracy"] - metrics["test_accuracy"])
        > 1e-6
    ):
        problems.append("the saved model does not give the recorded test accuracy")
    return problems


def concurrent_trial(output_dir: Path, reference: dict) -> list[str]:
    """Two trainers on one directory at once: one runs, one is refused."""
    both = [
        subprocess.Popen(
            train_command(output_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    errors = [process.communicate()[1].decode() for process in both]
    statuses = sorted(process.returncode for process in both)
    if statuses != [0, 2]:
        return [f"exit statuses {statuses}, expected [0, 2]: {errors}"]
    refused = errors[[process.returncode for process in both].index(2)]
    if "is in use by another process (process " not in refused:
        return [f"the second trainer was not refused as expected: {refused.strip()}"]
    return check_run(output_dir, reference)


def write_user_files(directory: Path) -> None:
    for name, content in USER_FILES.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(content)


def changed_user_files(directory: Path) -> list[str]:
    return [
        name for name, content in USER_FILES.items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]  # fmt: skip


def user_files_trial(output_dir: Path, reference: dict) -> list[str]:
    """User files where a run would write: refused, then kept beside a run."""
    problems = []
    output_dir.mkdir()
    write_user_files(output_dir)
    for extra in ([], ["--overwrite"]):
        result = subprocess.run(
            [*train_command(output_dir), *extra], capture_output=True, text=True
        )
        if result.returncode != 2 or "holds no keras-posemb run" not in result.stderr:
            problems.append(
                f"a folder of user files was not refused {extra}: {result.stderr[-300:]}"
            )
    problems += [f"{name} changed after a refusal" for name in changed_user_files(output_dir)]
    finished = output_dir.parent / f"{output_dir.name}-finished"
    subprocess.run(train_command(finished), check=True, capture_output=True)
    beside = {f"{USER_FOLDER}/{name}": content for name, content in USER_FILES.items()}
    # In the run's own logs/ folder: the folder is the run's, the files the user's.
    beside.update({"logs/notes.txt": b"my notes", "logs/train/mine.txt": b"my file"})
    for name, content in beside.items():
        (finished / name).parent.mkdir(parents=True, exist_ok=True)
        (finished / name).write_bytes(content)
    subprocess.run([*train_command(finished), "--overwrite"], check=True, capture_output=True)
    problems += [
        f"{name} beside a run changed after --overwrite"
        for name, content in beside.items()
        if not (finished / name).is_file() or (finished / name).read_bytes() != content
    ]
    return problems + check_run(finished, reference)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per kind of moment")
    parser.add_argument("--kills", type=int, default=2, help="kills per trial before it may finish")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--moments",
        default=",".join(MOMENTS + OTHER_TRIALS),
        help="kinds of moment (and the trials without a kill), comma-separated",
    )
    args = parser.parse_args(argv)
    moments = args.moments.split(",")
    rng = random.Random(args.seed)
    workspace = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        start = time.monotonic()
        subprocess.run(train_command(workspace / "reference"), check=True, capture_output=True)
        duration = time.monotonic() - start
        reference = json.loads((workspace / "reference" / "metrics.json").read_text())
        kills, failures = {}, {}
        trials = {"concurrent": concurrent_trial, "user_files": user_files_trial}
        for moment in moments:
            kills[moment] = 0
            for trial in range(args.trials):
                output_dir = workspace / f"{moment}-{trial}"
                if moment in trials:
                    problems = trials[moment](output_dir, reference)
                    if problems:
                        failures[(moment, trial)] = problems
                    continue
                try:
                    for _ in range(args.kills):
                        kills[moment] += run_and_kill(output_dir, moment, duration, rng)
                except AssertionError as error:
                    failures[(moment, trial)] = [str(error)]
                    continue
                subprocess.run(train_command(output_dir), check=True, capture_output=True)
                problems = check_run(output_dir, reference)
                if problems:
                    failures[(moment, trial)] = problems
        print(
            f"\n{args.trials} trials per moment, up to {args.kills} SIGKILLs each; "
            f"an uninterrupted run takes {duration:.1f} s; {platform.machine()}, {os.cpu_count()} CPUs\n"
        )
        print(
            "| moment of the kill | kills | runs that ended complete and exact |\n|---|---:|---:|"
        )
        for moment in moments:
            exact = args.trials - sum(failed == moment for failed, _ in failures)
            print(f"| {moment} | {kills[moment]} | {exact} of {args.trials} |")
        if SIGNAL_DELAYS:
            print(
                f"\nCtrl-C or SIGTERM to the end of the trainer: at most "
                f"{max(SIGNAL_DELAYS):.2f} s over {len(SIGNAL_DELAYS)} signals "
                f"(median {sorted(SIGNAL_DELAYS)[len(SIGNAL_DELAYS) // 2]:.2f} s)"
            )
        for (moment, trial), problems in failures.items():
            print(f"FAILED: {moment} trial {trial}: {'; '.join(problems)}")
        return 1 if failures else 0
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
