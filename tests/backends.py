"""Runs the test suite under every installed Keras backend.

TensorFlow runs every test; JAX and PyTorch run the tests marked
`all_backends` (layers, models, serialization, the trainer, a share of the guides).
Two lanes run side by side, to use both cores of a small machine: the
TensorFlow tests and then TensorFlow's benchmark tests (marked `benchmark`)
in one; JAX, PyTorch and the longest benchmark tests (marked `other_lane`)
in the other, so that the two take about as long. Each leg's output is
printed when it ends. A backend that is
not installed is reported and skipped: PyTorch is optional (`pip install
torch`), JAX comes with the `test` extra.

    python tests/backends.py [pytest arguments...]
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (name, backend, pytest selection) per leg. Legs in one list run one after
# the other; the lists run side by side.
LANES = [
    [
        ("tensorflow", "tensorflow", ["-m", "not benchmark"]),
        ("tensorflow, benchmarks", "tensorflow", ["-m", "benchmark and not other_lane"]),
    ],
    [
        ("jax", "jax", ["-m", "all_backends"]),
        ("torch", "torch", ["-m", "all_backends"]),
        ("tensorflow, long benchmarks", "tensorflow", ["-m", "benchmark and other_lane"]),
    ],
]
# The slowest tests of each leg are listed at its end: where CI time goes.
SLOWEST = ["--durations=15"]


def leg_environment(backend, scratch):
    env = {**os.environ, "KERAS_BACKEND": backend}
    if backend == "jax":
        # JAX compiles every new model's step functions anew; a persistent
        # cache shared by the leg's tests (and their subprocesses) reuses
        # what an identical model compiled before. A training test that
        # builds three equal models takes a quarter of the time.
        env.update(
            JAX_COMPILATION_CACHE_DIR=os.path.join(scratch, "jax-cache"),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    return env


def run_leg(name, backend, selection, argv, results):
    if importlib.util.find_spec(backend) is None:
        results[name] = (None, "not installed, skipped", "")
        return
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as output, tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pytest", "-q", *SLOWEST, *selection, *argv]
        env = leg_environment(backend, scratch)
        status = subprocess.call(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        output.seek(0)
        text = output.read()
    minutes = (time.monotonic() - start) / 60
    summary = f"{'passed' if status == 0 else 'FAILED'} in {minutes:.1f} min"
    results[name] = (status, summary, text)
    print(f"\n===== {name} (KERAS_BACKEND={backend}): {summary} =====\n{text}", flush=True)


def run_lane(lane, argv, results):
    for name, backend, selection in lane:
        run_leg(name, backend, selection, argv, results)


def main(argv: list[str]) -> int:
    results = {}
    lanes = [threading.Thread(target=run_lane, args=(lane, argv, results)) for lane in LANES]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    print("\n" + "\n".join(f"{name}: {results[name][1]}" for name, _, _ in sum(LANES, [])))
    return 1 if any(status not in (0, None) for status, _, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
