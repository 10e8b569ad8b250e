"""Train none, sinusoidal and learned positions alike and compare them.

Same data, model and seeds for each encoding (any data set the trainer
accepts). Writes comparison.md, comparison.json, accuracy.png and, on the
built-in `order` data set, extrapolation.png: accuracy on sentences longer
than any seen in training (1.5x, 2x and 4x the longest).

    python demos/compare_encodings.py --output-dir runs/compare
    python demos/compare_encodings.py --output-dir runs/compare_sst2 --seeds 1 \\
        --dataset ../shared/data/sst2/train.tsv --test-file ../shared/data/sst2/dev.tsv
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_text_classifier  # noqa: E402

from keras_posemb import experiments  # noqa: E402
from keras_posemb.data import DataError  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seeds", type=int, default=3)
    own, rest = parser.parse_known_args(argv)
    # Training flags as in train_text_classifier.py; shorter sentences and
    # table here, so that the longer evaluation sentences go past both.
    config = train_text_classifier.parse_args(
        rest,
        description=__doc__.split("\n\n")[0] + " Also takes every flag of train_text_classifier.py.",
        epilog=__doc__.split("\n\n", 2)[2],
        extra=[("--seeds", dict(type=int, default=3, help="seeds per encoding"))],
        defaults={"max_words": 16, "max_length": 32, "output_dir": "runs/compare", "verbose": 2, "plots": False},
    )
    try:
        results = experiments.compare_encodings(config, seeds=own.seeds)
    except DataError as error:
        sys.exit(f"error: {error}")
    experiments.write_results(results, config.output_dir)
    print("\n" + experiments.markdown_table(results))
    print(f"Wrote {config.output_dir}/: comparison.md, comparison.json, accuracy.png"
          + (", extrapolation.png" if config.dataset == "order" else ""))


if __name__ == "__main__":
    main()
