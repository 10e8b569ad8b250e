"""Accuracy on real data: the trainer's default recipe against two anchors.

In one run, on the same splits, trains:

- **ours**: `keras-posemb-train`'s defaults (best validation epoch, with
  validation carved from the training part only);
- **keras.io**: the "Text classification with Transformer" example's model,
  re-implemented (learned positions, embedding 32, 2 heads, feed-forward
  32, one block, every text padded to 200 tokens, Adam, batch 32, 2 epochs);
- **keras_hub**: `TokenAndPositionEmbedding` and two `TransformerEncoder`
  blocks (width 128, 4 heads, intermediate 256, padding masked), mean
  pooling, Adam, batch 32, 3 epochs (left out if keras_hub is not
  installed).

Data (`--data-dir DIR`, a folder of GLUE's and SentEval's tab-separated
files with a header row, text and label columns): SST-2 (DIR/sst2/train.tsv,
evaluated on DIR/sst2/dev.tsv, one run per seed) and CR and MPQA
(DIR/cr/all.tsv, DIR/mpqa/all.tsv; seeded 90/10 splits).
The test part of a split is never used to choose anything. Prints a table
per data set (mean and standard deviation, worst run, examples per second)
with the paired difference of ours to each anchor over the same splits, and
writes everything to `--output-dir`/real_data.json.

    python benchmarks/real_data.py --data-dir DIR [--datasets sst2,cr,mpqa] [--runs 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from _common import settings_from_pairs

from keras_posemb import data, files, training

ANCHOR_VOCABULARY = 20000


def read_tsv(path):
    with open(path, encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [name.lower() for name in rows[0]]
    text = next(i for i, name in enumerate(header) if name in data.local.TEXT_COLUMNS)
    label = header.index("label")
    return [(row[text], row[label]) for row in rows[1:] if row]


def write_tsv(path, rows):
    files.atomic_write_text(path, "label\ttext\n" + "".join(f"{y}\t{x}\n" for x, y in rows))


def splits(name, data_dir, runs, workspace):
    """`[(seed, train_file, test_file)]`: the same files for every model."""
    if name == "sst2":
        train, test = data_dir / "sst2" / "train.tsv", data_dir / "sst2" / "dev.tsv"
        return [(seed, train, test) for seed in range(runs)]
    rows = read_tsv(data_dir / name / "all.tsv")
    found = []
    for seed in range(runs):
        order = np.random.default_rng(seed).permutation(len(rows))
        cut = len(rows) // 10
        folder = workspace / f"{name}-{seed}"
        write_tsv(folder / "test.tsv", [rows[i] for i in order[:cut]])
        write_tsv(folder / "train.tsv", [rows[i] for i in order[cut:]])
        found.append((seed, folder / "train.tsv", folder / "test.tsv"))
    return found


def run_ours(seed, train_file, test_file, workspace, flags):
    config = training.TrainConfig(
        dataset=str(train_file),
        test_file=str(test_file),
        seed=seed,
        verbose=0,
        plots=False,
        output_dir=str(workspace / f"ours-{train_file.parent.name}-{seed}"),
        overwrite=True,
        **flags,
    )
    metrics = training.train(config)
    return {
        "accuracy": metrics["test_accuracy"],
        "examples_per_second": metrics["examples_per_second"],
        "epochs": metrics["epochs_trained"],
        "best_epoch": metrics["best_epoch"],
    }


class PlainBlock(keras.layers.Layer):
    """The keras.io example's post-norm block: attention and a ReLU feed-forward."""

    def __init__(self, width, heads, ff_dim, rate=0.1):
        super().__init__()
        self.attention = keras.layers.MultiHeadAttention(heads, width)
        self.hidden = keras.layers.Dense(ff_dim, activation="relu")
        self.out = keras.layers.Dense(width)
        self.norms = [keras.layers.LayerNormalization(epsilon=1e-6) for _ in range(2)]
        self.drops = [keras.layers.Dropout(rate) for _ in range(2)]

    def call(self, x, training=False):
        x = self.norms[0](x + self.drops[0](self.attention(x, x), training=training))
        return self.norms[1](x + self.drops[1](self.out(self.hidden(x)), training=training))


class PlainTokenAndPosition(keras.layers.Layer):
    """Token embedding plus a learned position embedding looked up by arange."""

    def __init__(self, length, vocabulary, width):
        super().__init__()
        self.tokens = keras.layers.Embedding(vocabulary, width)
        self.positions = keras.layers.Embedding(length, width)

    def call(self, ids):
        return self.tokens(ids) + self.positions(keras.ops.arange(keras.ops.shape(ids)[-1]))


def keras_io_model(length, vocabulary, num_classes):
    ids = keras.Input(shape=(length,))
    x = PlainTokenAndPosition(length, vocabulary, 32)(ids)
    x = PlainBlock(32, 2, 32)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(20, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    return keras.Model(ids, keras.layers.Dense(num_classes, activation="softmax")(x))


def keras_hub_model(length, vocabulary, num_classes):
    import keras_hub

    ids = keras.Input(shape=(length,), dtype="int32")
    padding_mask = keras.ops.not_equal(ids, 0)
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary, length, 128, mask_zero=True)(ids)
    for _ in range(2):
        x = keras_hub.layers.TransformerEncoder(256, 4, dropout=0.1)(x, padding_mask=padding_mask)
    # A masked mean that is 0, not 0/0, for a text with no known word (CR
    # has one, "*"): GlobalAveragePooling1D would make it NaN, and with it
    # every weight, leaving the anchor stuck for a reason of its own.
    weights = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)
    count = keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)
    x = keras.ops.sum(x * weights, axis=1) / count
    x = keras.layers.Dropout(0.1)(x)
    return keras.Model(ids, keras.layers.Dense(num_classes, activation="softmax")(x))


ANCHORS = {
    # name: (model builder, padded length, epochs)
    "keras.io": (keras_io_model, 200, 2),
    "keras_hub": (keras_hub_model, 64, 3),
}


def run_anchor(name, seed, train_file, test_file):
    build, length, epochs = ANCHORS[name]
    keras.utils.set_random_seed(seed)
    loaded = data.local_dataset(str(train_file), test_file=str(test_file), seed=seed)
    # Same training part as ours: the validation part is held out, unused.
    vectorizer = data.make_vectorizer(loaded.train.texts, ANCHOR_VOCABULARY)

    def padded(split):
        ids = np.zeros((len(split), length), "int32")
        for row, tokens in zip(ids, data.token_ids(split.texts, vectorizer, length)):
            row[: len(tokens)] = tokens
        return ids

    model = build(length, ANCHOR_VOCABULARY, len(loaded.class_names))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ids = padded(loaded.train)
    start = time.perf_counter()
    model.fit(train_ids, loaded.train.labels, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(padded(loaded.test), loaded.test.labels, verbose=0, return_dict=True)[
        "accuracy"
    ]
    return {"accuracy": float(accuracy), "examples_per_second": len(train_ids) * epochs / seconds}


def summary(results, contenders):
    """Per contender: mean, std, worst; and ours minus each anchor, paired."""
    table = {}
    for name in contenders:
        accuracies = np.array([run[name]["accuracy"] for run in results])
        table[name] = {
            "mean": float(accuracies.mean()),
            "std": float(accuracies.std()),
            "worst": float(accuracies.min()),
            "examples_per_second": float(
                np.mean([run[name]["examples_per_second"] for run in results])
            ),
        }
        if name != "ours" and "ours" in contenders:
            differences = np.array(
                [run["ours"]["accuracy"] - run[name]["accuracy"] for run in results]
            )
            table[name]["ours_minus_this"] = {
                "mean": float(differences.mean()),
                "std": float(differences.std()),
            }
    return table


def print_table(dataset, table, runs):
    print(f"\n{dataset}, {runs} runs:\n")
    print("| recipe | accuracy (mean ± std) | worst run | examples/s | ours minus this (paired) |")
    print("|---|---:|---:|---:|---:|")
    for name, entry in table.items():
        paired = entry.get("ours_minus_this")
        difference = (
            f"{100 * paired['mean']:+.2f} ± {100 * paired['std']:.2f} points" if paired else ""
        )
        print(
            f"| {name} | {entry['mean']:.4f} ± {entry['std']:.4f} | {entry['worst']:.4f} | "
            f"{entry['examples_per_second']:,.0f} | {difference} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="the folder of sst2/, cr/ and mpqa/"
    )
    parser.add_argument("--datasets", default="sst2,cr,mpqa")
    parser.add_argument(
        "--runs", type=int, default=5, help="seeds (SST-2) or seeded splits (CR, MPQA)"
    )
    parser.add_argument("--contenders", default="ours,keras.io,keras_hub")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/real_data"))
    parser.add_argument(
        "--flag",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a trainer setting for ours, e.g. --flag epochs=5",
    )
    args = parser.parse_args(argv)
    flags = settings_from_pairs(training.TrainConfig, args.flag)
    contenders = args.contenders.split(",")
    if "keras_hub" in contenders:
        try:
            import keras_hub  # noqa: F401
        except ImportError:
            print("keras_hub is not installed: its anchor is left out (pip install keras-hub).")
            contenders.remove("keras_hub")
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "backend": keras.backend.backend(),
        "flags": flags,
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="real-data-") as temporary:
        workspace = Path(temporary)
        for dataset in args.datasets.split(","):
            results = []
            for seed, train_file, test_file in splits(dataset, args.data_dir, args.runs, workspace):
                run = {}
                for name in contenders:
                    if name == "ours":
                        run[name] = run_ours(seed, train_file, test_file, workspace, flags)
                    else:
                        run[name] = run_anchor(name, seed, train_file, test_file)
                    print(f"{dataset} run {seed}: {name} {run[name]['accuracy']:.4f}", flush=True)
                results.append(run)
            table = summary(results, contenders)
            report["datasets"][dataset] = {"runs": results, "summary": table}
            print_table(dataset, table, len(results))
    print(
        f"\n{report['machine']}, Keras {keras.__version__}, backend {report['backend']}, ours with {flags or 'default flags'}"
    )
    files.atomic_write_json(args.output_dir / "real_data.json", report)
    print(f"Wrote {args.output_dir / 'real_data.json'}")


if __name__ == "__main__":
    main()
