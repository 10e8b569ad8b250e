"""SST-2 dev accuracy of the trainer's default model, over several seeds.

Trains on all phrases of `train.tsv` and evaluates on the 872 sentences of
`dev.tsv`, once per seed, with the defaults of
`demos/train_text_classifier.py` (3 epochs here); dev.tsv is only
evaluated, never used to choose a model or an epoch. Any trainer flag can be
added, e.g. `--position learned`. Prints a table per seed with the mean and
standard deviation and writes comparison.json/.md to --output-dir.

    python benchmarks/sst2_accuracy.py [--seeds 5] [--sst2-dir ../shared/data/sst2]
"""

import argparse
import os
import platform

import tensorflow as tf

from keras_posemb import experiments
from keras_posemb.cli.train import parse_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sst2-dir", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    own, rest = parser.parse_known_args(argv)
    config, _ = parse_config(
        rest,
        __doc__,
        extra=[
            ("--seeds", dict(type=int, default=5, help="seeds, from --seed on")),
            ("--sst2-dir", dict(default=own.sst2_dir, help="directory with train.tsv and dev.tsv")),
        ],
        defaults={
            "dataset": os.path.join(own.sst2_dir, "train.tsv"),
            "validation_file": os.path.join(own.sst2_dir, "dev.tsv"),
            "test_file": os.path.join(own.sst2_dir, "dev.tsv"),
            "epochs": 3,
            "output_dir": "runs/sst2_accuracy",
            "verbose": 2,
            "plots": False,
        },
    )
    results = experiments.compare_encodings(config, seeds=own.seeds, positions=(config.position,))
    experiments.write_results(results, config.output_dir)

    print(
        f"\n{config.position} positions, {config.epochs} epochs, batch {config.batch_size}, "
        f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}\n"
    )
    print("| seed | dev accuracy | examples/s |\n|---|---:|---:|")
    for run in results["runs"]:
        print(f"| {run['seed']} | {run['test_accuracy']:.4f} | {run['examples_per_second']:,.0f} |")
    summary = results["summary"][config.position]
    print(
        f"| mean ± std | {summary['test_accuracy_mean']:.4f} ± {summary['test_accuracy_std']:.4f} | "
        f"{summary['examples_per_second']:,.0f} |"
    )


if __name__ == "__main__":
    main()
