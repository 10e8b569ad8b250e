"""Comparing position encodings: accuracy over seeds and length extrapolation.

`compare_encodings` trains every encoding with the same data, model and
seeds through `training.train`, and on the built-in `order` data set also
evaluates each trained model on sentences longer than any it was trained on.

What a learned table does at unseen positions: positions below its
`max_length` that training never reached keep their random initial rows (the
model runs, usually badly); positions at or past `max_length` raise the
layer's error, which the extrapolation result records as `"error"` instead of
an accuracy. The sinusoidal encoding and `"none"` accept any length.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_posemb import data, files, training
from keras_posemb import families as registry
from keras_posemb.analysis import viz
from keras_posemb.errors import PositionRangeError
from keras_posemb.runs.owned import OwnedDirectory
from keras_posemb.runs.run import Run

EXTRAPOLATION_FACTORS = (1.5, 2.0, 4.0, 8.0)
# The kind of `OwnedDirectory` a comparison's folder is; it holds one run per
# encoding and seed, and the result files.
COMPARISON = "comparison"


def _accuracy(model, pipeline):
    """Accuracy from eager calls: each batch's length is known to the position
    layer, which raises `PositionRangeError` past its table on every backend
    (a compiled evaluation may only learn the length at run time)."""
    import keras

    correct = total = 0
    for ids, labels in pipeline.as_numpy_iterator():
        probabilities = keras.ops.convert_to_numpy(model(ids, training=False))
        correct += int(np.sum(np.argmax(probabilities, axis=-1) == labels))
        total += len(labels)
    return correct / total


def extrapolation_bands(train_words, factors=EXTRAPOLATION_FACTORS):
    """`(factor, min_words, max_words)` per band: the training lengths, then
    lengths up to `factor * train_words`, each band starting past the last."""
    bands = [(1.0, 5, train_words)]
    for factor in factors:
        bands.append((factor, bands[-1][2] + 1, int(round(train_words * factor))))
    return bands


def evaluate_extrapolation(run_dir, train_words, seed, size=1000, factors=EXTRAPOLATION_FACTORS):
    """Accuracy of a trained `order` run on longer sentences.

    Returns:
        A list of dicts with `factor`, `min_words`, `max_words` and
        `accuracy` (or `error`, the layer's message, when the model cannot
        encode those positions).
    """
    run = Run(run_dir)
    model, vectorizer = run.load_model(), run.vectorizer()
    results = []
    for factor, low, high in extrapolation_bands(train_words, factors):
        # Seeds apart from training's, so the sentences are new.
        test = data.order_dataset(0, 0, size, min_words=low, max_words=high, seed=seed + 1000).test
        pipeline = data.make_pipeline(test, vectorizer, max_length=high, batch_size=64)
        row = {"factor": factor, "min_words": low, "max_words": high}
        try:
            row["accuracy"] = _accuracy(model, pipeline)
        except PositionRangeError as error:  # Past a learned table.
            row["error"] = str(error)
        results.append(row)
    return results


def compare_encodings(config, seeds=3, positions=None, extrapolate=None, log=print):
    """Trains each encoding for `seeds` seeds; summarizes the results.

    Args:
        config: the `training.TrainConfig` shared by all runs; its
            `output_dir` gets one subdirectory per run.
        seeds: number of seeds, `config.seed`, `config.seed + 1`, ...
        positions: the encodings to compare (default: every registered family).
        extrapolate: evaluate on longer sentences; defaults to `True` on
            the built-in `order` data set (the only one with a length knob).

    Returns:
        A dict with `runs` (one entry per run) and `summary` (per encoding:
        mean and standard deviation of test accuracy, mean examples per
        second, and mean extrapolation accuracy per length band).
    """
    extrapolate = config.dataset == "order" if extrapolate is None else extrapolate
    positions = registry.names() if positions is None else positions
    with OwnedDirectory(config.output_dir, COMPARISON).locked() as comparison:
        runs = _train_runs(config, seeds, positions, extrapolate, comparison, log)
    return {
        "config": dataclasses.asdict(config),
        "seeds": seeds,
        "runs": runs,
        "summary": summarize(runs),
    }


def _train_runs(config, seeds, positions, extrapolate, comparison, log):
    runs = []
    for position in positions:
        for seed in range(config.seed, config.seed + seeds):
            run_dir = os.path.join(config.output_dir, f"{position}_seed{seed}")
            log(f"Training {position}, seed {seed} -> {run_dir}")
            run_config = dataclasses.replace(
                config, position=position, seed=seed, output_dir=run_dir
            )
            comparison.claim(os.path.basename(run_dir))
            metrics = training.train(run_config)  # A finished run is read back.
            run = {
                key: metrics[key]
                for key in (
                    "position",
                    "seed",
                    "test_accuracy",
                    "val_accuracy",
                    "examples_per_second",
                )
            }
            if extrapolate:
                run["extrapolation"] = evaluate_extrapolation(run_dir, config.max_words, seed)
            runs.append(run)
    return runs


def summarize(runs):
    summary = {}
    for position in dict.fromkeys(run["position"] for run in runs):
        mine = [run for run in runs if run["position"] == position]
        accuracy = [run["test_accuracy"] for run in mine]
        entry = {
            "test_accuracy_mean": float(np.mean(accuracy)),
            "test_accuracy_std": float(np.std(accuracy)),
            "examples_per_second": float(np.mean([run["examples_per_second"] for run in mine])),
        }
        if "extrapolation" in mine[0]:
            entry["extrapolation"] = []
            for index, band in enumerate(mine[0]["extrapolation"]):
                rows = [run["extrapolation"][index] for run in mine]
                band = {k: band[k] for k in ("factor", "min_words", "max_words")}
                if all("accuracy" in row for row in rows):
                    band["accuracy_mean"] = float(np.mean([row["accuracy"] for row in rows]))
                else:
                    band["error"] = next(row["error"] for row in rows if "error" in row)
                entry["extrapolation"].append(band)
        summary[position] = entry
    return summary


def markdown_table(results):
    summary = results["summary"]
    lines = [
        f"| encoding | test accuracy (mean ± std over {results['seeds']} "
        f"seed{'s' if results['seeds'] != 1 else ''}) | examples/s |",
        "|---|---:|---:|",
    ]
    for position, entry in summary.items():
        lines.append(
            f"| {position} | {entry['test_accuracy_mean']:.4f} ± {entry['test_accuracy_std']:.4f} | {entry['examples_per_second']:,.0f} |"
        )
    first = next(iter(summary.values()))
    if "extrapolation" in first:
        bands = first["extrapolation"]
        lines += [
            "",
            "Accuracy by sentence length (training sentences had at most "
            f"{bands[0]['max_words']} words):",
            "",
        ]
        lines.append(
            "| encoding | "
            + " | ".join(
                f"{b['factor']:g}x: {b['min_words']}-{b['max_words']} words" for b in bands
            )
            + " |"
        )
        lines.append("|---|" + "---:|" * len(bands))
        for position, entry in summary.items():
            cells = [
                f"{b['accuracy_mean']:.4f}" if "accuracy_mean" in b else "error"
                for b in entry["extrapolation"]
            ]
            lines.append(f"| {position} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_comparison(results):
    """Bar chart of test accuracy (mean ± std) per encoding, each bar labelled
    with its mean: bars above 0.99 look alike on a 0-1 axis."""
    Figure = viz.figure_class()

    summary = results["summary"]
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    names = list(summary)
    means = [summary[n]["test_accuracy_mean"] for n in names]
    bars = ax.bar(
        names,
        means,
        yerr=[summary[n]["test_accuracy_std"] for n in names],
        capsize=6,
        color=[f"C{i}" for i in range(len(names))],
    )
    ax.bar_label(bars, labels=[f"{mean:.4f}" for mean in means], padding=8, fontsize=8)
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set(
        ylim=(0, 1.12), ylabel="test accuracy", title=f"Test accuracy over {results['seeds']} seeds"
    )
    ax.legend(loc="lower right")
    return figure


def plot_extrapolation(results):
    """Accuracy against sentence length for each encoding, on the full 0-1 scale.

    A band that a model cannot encode (past a learned table) has no
    accuracy: no point is drawn there, and the bands are shaded in the
    encoding's colour with their own legend entry, never drawn as a 0. The
    legend sits beside the axes, where it hides nothing.
    """
    Figure = viz.figure_class()

    figure = Figure(figsize=(8, 4.2), layout="constrained")
    ax = figure.subplots()
    for position, entry in results["summary"].items():
        bands = entry["extrapolation"]
        x = [b["max_words"] for b in bands]
        y = [b.get("accuracy_mean", np.nan) for b in bands]
        (line,) = ax.plot(x, y, marker="o", label=position)
        errors = [(b["min_words"], b["max_words"]) for b in bands if "error" in b]
        for index, (low, high) in enumerate(errors):
            ax.axvspan(
                low, high, color=line.get_color(), alpha=0.12, hatch="//",
                label=f"{position}: no accuracy (past its table)" if index == 0 else None,
            )  # fmt: skip
    trained = next(iter(results["summary"].values()))["extrapolation"][0]["max_words"]
    ax.axvline(
        trained, color="grey", linestyle="--", linewidth=1, label="longest training sentence"
    )
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set(
        xlabel="longest sentence in the evaluation band (words)",
        ylabel="accuracy",
        ylim=(0, 1.02),
        title="Length extrapolation",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def write_results(results, output_dir):
    """`comparison.md`, `comparison.json` and PNG plots in `output_dir`.

    Returns:
        The names of the files written.
    """
    written = {
        "comparison.md": lambda path: files.atomic_write_text(path, markdown_table(results)),
        "comparison.json": lambda path: files.atomic_write_json(path, results),
        "accuracy.png": lambda path: files.atomic_save_figure(plot_comparison(results), path),
    }
    if "extrapolation" in next(iter(results["summary"].values())):
        written["extrapolation.png"] = lambda path: files.atomic_save_figure(
            plot_extrapolation(results), path
        )
    with OwnedDirectory(output_dir, COMPARISON).locked() as comparison:
        comparison.claim(*written)
        for name, write in written.items():
            write(os.path.join(output_dir, name))
    return list(written)
