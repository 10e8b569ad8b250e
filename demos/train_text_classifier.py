"""Train the transformer text classifier with a chosen position encoding.

With no arguments: the built-in `order` data set (word order decides the
label), sinusoidal positions, offline, on CPU or GPU. Writes the model,
vocabulary, metrics.json, TensorBoard logs and plots to --output-dir.
Rerunning an interrupted command resumes it.

    python demos/train_text_classifier.py
    python demos/train_text_classifier.py --position learned
    python demos/train_text_classifier.py --dataset ../shared/data/sst2/train.tsv \\
        --test-file ../shared/data/sst2/dev.tsv
    python demos/train_text_classifier.py --dataset imdb_reviews --download
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_posemb import models  # noqa: E402
from keras_posemb.data import DataError  # noqa: E402
from keras_posemb.training import TrainConfig, train  # noqa: E402

HELP = {
    "dataset": "'order' (built in), a tensorflow-datasets name (imdb_reviews, ag_news_subset, glue/sst2, ...), "
    "a .tsv/.csv file with a header row, or a directory with one subdirectory of .txt files per class",
    "validation_file": "validation data for a local data set (default: a seeded 10%% of the training file)",
    "test_file": "test data for a local data set (default: a seeded 10%% of the training file)",
    "text_column": "text column of a .tsv/.csv file (default: text, sentence, content, review, ...)",
    "label_column": "label column of a .tsv/.csv file (default: label, class, sentiment, ...)",
    "data_dir": "tensorflow-datasets data directory",
    "download": "let tensorflow-datasets download and prepare the data set if it is not prepared",
    "max_words": "longest sentence of the built-in 'order' data set, in words",
    "order_train_size": "training sentences of the built-in 'order' data set (validation and test: 1/8 each)",
    "position": "position encoding",
    "output_dir": "where the run's files go (default: runs/<dataset>_<position>)",
    "epochs": "training epochs",
    "batch_size": "examples per batch (per replica)",
    "learning_rate": "peak learning rate (AdamW)",
    "warmup_fraction": "fraction of the steps with linear warmup before the cosine decay",
    "weight_decay": "AdamW weight decay",
    "max_length": "texts are truncated to this many tokens; also the learned table's length",
    "vocab_size": "vocabulary size, padding and out-of-vocabulary included",
    "embed_dim": "embedding width",
    "num_heads": "attention heads",
    "ff_dim": "feed-forward hidden width",
    "num_layers": "encoder blocks",
    "dropout": "dropout rate",
    "pooling": "how the encoder output is pooled",
    "norm_first": "pre-norm encoder blocks (--no-norm-first: post-norm, as in the paper)",
    "scale_embeddings": "multiply token embeddings by sqrt(embed-dim) before adding positions",
    "seed": "random seed: the same seed and flags give the same metrics on CPU",
    "mixed_precision": "mixed precision: float16 on GPU, bfloat16 on CPU",
    "jit_compile": "compile training with XLA",
    "strategy": "'mirrored': tf.distribute.MirroredStrategy over all local GPUs",
    "verbose": "1: progress bars, 2: one line per epoch, 0: only the summary",
    "plots": "write PNG plots of the position vectors (--no-plots to skip)",
}
CHOICES = {"position": models.POSITIONS, "pooling": ("mean", "max", "first"), "strategy": ("default", "mirrored")}


def parse_args(argv=None, description=None, epilog=None, extra=(), defaults=None):
    """A `TrainConfig` from command-line flags.

    `extra` adds `(flag, kwargs)` arguments that are checked but not part of
    the config (for other demos); `defaults` overrides config defaults.
    """
    parser = argparse.ArgumentParser(
        description=description or __doc__.split("\n\n")[0],
        epilog=epilog or __doc__.split("\n\n", 2)[2],
        formatter_class=lambda prog: argparse.ArgumentDefaultsHelpFormatter(prog, max_help_position=32),
    )
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    defaults = TrainConfig(**(defaults or {}))
    for name, help_text in HELP.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, type=kind, default=default, choices=CHOICES.get(name), help=help_text)
    values = vars(parser.parse_args(argv))
    for flag, _ in extra:
        values.pop(flag.lstrip("-").replace("-", "_"))
    return TrainConfig(**values)


def main(argv=None):
    config = parse_args(argv)
    try:
        train(config)
    except DataError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
