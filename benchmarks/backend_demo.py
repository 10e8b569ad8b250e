"""The default demo under each installed Keras backend and position, one after the other.

Runs `keras-posemb-train` with its defaults (the built-in data set) in a
fresh process per backend and position, same machine, same run of this
script, and prints the wall time of the whole command, the training time
and examples per second the trainer measured, the epochs trained, the
test accuracy and the validation accuracy after each epoch (how long the
model sat at chance).

    python benchmarks/backend_demo.py [--backends tensorflow,jax,torch]
        [--positions sinusoidal,learned,...] [trainer flags...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--positions", default="sinusoidal")
    args, flags = parser.parse_known_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="backend-demo-") as workspace:
        for backend in args.backends.split(","):
            if importlib.util.find_spec(backend) is None:
                print(f"{backend} is not installed: left out.")
                continue
            for position in args.positions.split(","):
                output = Path(workspace) / f"{backend}-{position}"
                command = [
                    *(sys.executable, "-m", "keras_posemb.cli.train", *flags),
                    *("--position", position, "--verbose", "0", "--output-dir", str(output)),
                ]
                start = time.perf_counter()
                subprocess.run(
                    command,
                    check=True,
                    env={**os.environ, "KERAS_BACKEND": backend},
                    capture_output=True,
                )
                wall = time.perf_counter() - start
                metrics = json.loads((output / "metrics.json").read_text())
                rows.append((backend, position, wall, metrics))
    print(
        f"\nkeras-posemb-train {' '.join(flags) or '(defaults)'}; {platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| backend | position | wall time | training | examples/s | epochs | test accuracy "
        "| validation accuracy after each epoch |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for backend, position, wall, metrics in rows:
        curve = " ".join(f"{e['val_accuracy']:.3f}" for e in metrics["validation_curve"])
        print(
            f"| {backend} | {position} | {wall:.0f} s | {metrics['train_seconds']:.0f} s | "
            f"{metrics['examples_per_second']:,.0f} | {metrics['epochs_trained']} | "
            f"{metrics['test_accuracy']:.4f} | {curve} |"
        )


if __name__ == "__main__":
    main()
