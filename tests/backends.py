"""Runs the test suite under every installed Keras backend.

TensorFlow runs every test; JAX and PyTorch run the tests marked
`all_backends` (layers, models, serialization, the trainer on JAX). A
backend that is not installed is reported and skipped; PyTorch is optional
(`pip install torch`), JAX comes with the `test` extra.

    python tests/backends.py [pytest arguments...]
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEGS = {"tensorflow": [], "jax": ["-m", "all_backends"], "torch": ["-m", "all_backends"]}


def main(argv: list[str]) -> int:
    results = {}
    for backend, selection in LEGS.items():
        if importlib.util.find_spec(backend) is None:
            results[backend] = "not installed, skipped"
            continue
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        start = time.monotonic()
        command = [sys.executable, "-m", "pytest", "-q", *selection, *argv]
        status = subprocess.call(command, cwd=ROOT, env={**os.environ, "KERAS_BACKEND": backend})
        minutes = (time.monotonic() - start) / 60
        results[backend] = f"{'passed' if status == 0 else 'FAILED'} in {minutes:.1f} min"
    print("\n" + "\n".join(f"{backend}: {result}" for backend, result in results.items()))
    return 1 if any("FAILED" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
