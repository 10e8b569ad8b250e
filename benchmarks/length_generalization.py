"""Length generalization on algorithmic tasks: which position family lets a
decoder trained on short inputs answer longer ones exactly?

For each task (`keras_posemb.data.algorithmic`: copy, reverse, duplicate,
sort, binary addition, parity, odds first), family and seed, trains a small
causal decoder (4 layers of width 64, 4 heads) on inputs of 1 to
--max-train-length symbols, the loss on the answer only, then scores exact
match (greedy decoding of the whole answer, `analysis.extrapolation.
exact_match`) at every training length and at longer ones up to
--max-test-length. The model's `max_length` is the longest training example:
a learned table has no rows beyond it (its longer lengths are n/a), and
FIRE's threshold starts there.

Every run's result is one file in results/ (written atomically), so a
killed study resumes with the runs it had not finished. Prints a markdown
table per task (accuracy over the training lengths, at 2.5x and 5x the
longest; mean and standard deviation over seeds) and writes summary.json,
summary.md and length_generalization.png (accuracy against length).

    python benchmarks/length_generalization.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import keras
import numpy as np

from keras_posemb import families, files
from keras_posemb.analysis.extrapolation import exact_match
from keras_posemb.data import algorithmic
from keras_posemb.models import build_causal_lm

FAMILIES = ("sinusoidal", "learned", "rotary", "alibi", "t5", "kerple", "fire", "none")
# Multiples of the longest training input the table reports.
BEYOND = (2.5, 5.0)
# The test examples' random stream, apart from training's.
TEST_STREAM = 10**6


def scored_lengths(max_train: int, max_test: int) -> list[int]:
    """Every training length, then about 16 longer ones from the next length
    on (the plot's points), and the table's multiples."""
    step = max(1, (max_test - max_train) // 16)
    beyond = set(range(max_train + 1, max_test + 1, step))
    beyond |= {round(f * max_train) for f in BEYOND if round(f * max_train) <= max_test}
    return list(range(1, max_train + 1)) + sorted(beyond)


def build_model(args, family, width):
    model = build_causal_lm(
        algorithmic.VOCAB_SIZE, max_length=width, position=family, embed_dim=args.width,
        num_heads=args.heads, num_layers=args.layers, dropout=0.0,
    )  # fmt: skip
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, args.steps, warmup_target=args.learning_rate, warmup_steps=max(1, args.steps // 20)
    )
    model.compile(
        keras.optimizers.Adam(schedule, clipnorm=1.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def train(model, task, args, rng, width) -> float:
    """`args.steps` batches of random lengths in [1, max_train]; the last loss."""
    loss = float("nan")
    for _ in range(args.steps):
        lengths = rng.integers(1, args.max_train_length + 1, size=args.batch_size)
        inputs, targets, weights = algorithmic.encode(task, lengths, rng, width)
        loss = float(np.asarray(model.train_on_batch(inputs, targets, sample_weight=weights)))
    return loss


def accuracies(model, task, args, seed) -> dict:
    """Exact match at each test length, on examples drawn for that length
    alone; `None` where the model's positions end. Lengths share two padded
    widths (the training one and the longest), so that a compiling backend
    compiles twice, not once per length."""
    covered = families.covered_positions(model)
    train_width = algorithmic.sequence_length(task, args.max_train_length)
    test_width = algorithmic.sequence_length(task, args.max_test_length)
    found = {}
    for n in scored_lengths(args.max_train_length, args.max_test_length):
        width = train_width if n <= args.max_train_length else test_width
        if algorithmic.sequence_length(task, n) > covered:
            found[str(n)] = None
            continue
        rng = np.random.default_rng([seed, TEST_STREAM, n])
        batch = algorithmic.encode(task, [n] * args.examples, rng, width)
        found[str(n)] = float(exact_match(model, *batch).mean())
    return found


def run_one(args, task_name, family, seed, log) -> dict:
    name = f"{task_name}_{family}_seed{seed}"
    path = args.output_dir / "results" / f"{name}.json"
    if path.exists():
        log(f"{name}: finished before, read back")
        return json.loads(path.read_text())
    task = algorithmic.get(task_name)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng([seed, list(algorithmic.TASKS).index(task_name)])
    width = algorithmic.sequence_length(task, args.max_train_length)
    model = build_model(args, family, width)
    start = time.perf_counter()
    loss = train(model, task, args, rng, width)
    seconds = time.perf_counter() - start
    result = {
        "task": task_name, "family": family, "seed": seed, "final_loss": loss,
        "train_seconds": seconds, "accuracy": accuracies(model, task, args, seed),
    }  # fmt: skip
    files.atomic_write_json(path, result)
    log(f"{name}: loss {loss:.4f}, {seconds:.0f} s, {summary_cells(result, args)}")
    return result


def cells(result, args) -> dict:
    """The table's numbers of one run: mean accuracy over the training
    lengths, and the accuracy at each multiple in `BEYOND`."""
    accuracy = result["accuracy"]
    seen = [accuracy[str(n)] for n in range(1, args.max_train_length + 1)]
    found = {"train": float(np.mean(seen))}
    for f in BEYOND:
        if round(f * args.max_train_length) <= args.max_test_length:
            found[f"{f:g}x"] = accuracy[str(round(f * args.max_train_length))]
    return found


def summary_cells(result, args) -> str:
    return ", ".join(f"{k} {shown(v)}" for k, v in cells(result, args).items())


def shown(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summarize(results, args) -> dict:
    """{task: {family: {column: {"mean", "std"} or None}}} over seeds."""
    summary = {}
    for result in results:
        row = summary.setdefault(result["task"], {}).setdefault(result["family"], {})
        for column, value in cells(result, args).items():
            row.setdefault(column, []).append(value)
    for rows in summary.values():
        for row in rows.values():
            for column, values in row.items():
                row[column] = (
                    None
                    if None in values
                    else {"mean": float(np.mean(values)), "std": float(np.std(values))}
                )
    return summary


def tables(summary) -> str:
    parts = []
    for task, rows in summary.items():
        columns = list(next(iter(rows.values())))
        lines = [f"**{task}** ({algorithmic.TASKS[task].description})", ""]
        lines.append("| family | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for family, row in rows.items():
            values = [
                "n/a" if row[c] is None else f"{row[c]['mean']:.3f} ± {row[c]['std']:.3f}"
                for c in columns
            ]
            lines.append(f"| {family} | " + " | ".join(values) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def plot(results, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in results))
    figure, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.5), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for family in dict.fromkeys(r["family"] for r in results if r["task"] == task):
            runs = [r["accuracy"] for r in results if r["task"] == task and r["family"] == family]
            lengths = sorted((n for n in runs[0] if all(r[n] is not None for r in runs)), key=int)
            means = [np.mean([run[n] for run in runs]) for n in lengths]
            axis.plot([int(n) for n in lengths], means, marker=".", label=family)
        axis.axvline(args.max_train_length, color="gray", linestyle=":")
        axis.set_title(task)
        axis.set_xlabel("input length")
        axis.set_ylim(-0.05, 1.05)
    axes[0][0].set_ylabel("exact match")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    files.atomic_save_figure(figure, path)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(algorithmic.TASKS))
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-train-length", type=int, default=40)
    parser.add_argument("--max-test-length", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=64, help="test examples per length")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--output-dir", type=Path, default=Path("runs/length_generalization"))
    args = parser.parse_args(argv)
    tasks, names = args.tasks.split(","), args.families.split(",")
    for task in tasks:
        algorithmic.get(task)  # Unknown names are refused before anything trains.
    for family in names:
        families.get(family)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    def log(message):
        print(message, flush=True)

    results = [
        run_one(args, task, family, int(seed), log)
        for task in tasks
        for seed in args.seeds.split(",")
        for family in names
    ]
    summary = summarize(results, args)
    machine = f"{platform.machine()}, {keras.backend.backend()}, Keras {keras.__version__}"
    seconds = sum(r["train_seconds"] for r in results)
    text = (
        f"Training lengths 1-{args.max_train_length}, {args.steps} steps of {args.batch_size}; "
        f"seeds {args.seeds}; {machine}; {seconds / 60:.1f} min of training.\n\n"
        + tables(summary)
        + "\n"
    )
    print(text)
    files.atomic_write_json(args.output_dir / "summary.json", {"summary": summary, "runs": results})
    files.atomic_write_text(args.output_dir / "summary.md", text)
    plot(results, args, args.output_dir / "length_generalization.png")


if __name__ == "__main__":
    main()
