"""Runs the test suite under every installed Keras backend.

TensorFlow runs every test; JAX and PyTorch run the tests marked
`all_backends` (layers, models, serialization, the trainer). The TensorFlow
leg runs beside the other two, one after the other, to use both cores of a
small machine; each leg's output is printed when it ends. A backend that is
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
# Legs in one list run one after the other; the lists run side by side.
LANES = [[("tensorflow", [])], [("jax", ["-m", "all_backends"]), ("torch", ["-m", "all_backends"])]]


def run_leg(backend, selection, argv, results):
    if importlib.util.find_spec(backend) is None:
        results[backend] = (None, "not installed, skipped", "")
        return
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as output:
        command = [sys.executable, "-m", "pytest", "-q", *selection, *argv]
        env = {**os.environ, "KERAS_BACKEND": backend}
        status = subprocess.call(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        output.seek(0)
        text = output.read()
    minutes = (time.monotonic() - start) / 60
    summary = f"{'passed' if status == 0 else 'FAILED'} in {minutes:.1f} min"
    results[backend] = (status, summary, text)
    print(f"\n===== KERAS_BACKEND={backend}: {summary} =====\n{text}", flush=True)


def run_lane(lane, argv, results):
    for backend, selection in lane:
        run_leg(backend, selection, argv, results)


def main(argv: list[str]) -> int:
    results = {}
    lanes = [threading.Thread(target=run_lane, args=(lane, argv, results)) for lane in LANES]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    print("\n" + "\n".join(f"{backend}: {results[backend][1]}" for backend, _ in sum(LANES, [])))
    return 1 if any(status not in (0, None) for status, _, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
