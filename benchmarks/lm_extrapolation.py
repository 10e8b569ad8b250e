"""Length extrapolation of causal language models: Press et al.'s question on real text.

Trains one character-level decoder per position family and seed with
`keras-posemb-lm`'s trainer (nanoGPT's CPU recipe by default: 4 layers,
4 heads, width 128, context 64, batch 12, 2,000 steps), then measures the
validation loss (nats per character) at 1x, 2x, 4x and 8x the training
context:

- non-overlapping windows (the headline: every character is scored once,
  with on average half a window of context, as the trainer's metrics.json),
  at 64x and 256x too (blockwise attention; `--set extrapolation=...`
  chooses the factors);
- sliding windows moving by half their length, each scoring its last half:
  every scored character sees at least half a window of earlier text;
- for rotary models, RoPE extensions applied at evaluation time only, with
  factor = length / context: linear position interpolation, NTK-aware,
  dynamic NTK (factor 1: the scale is length / context) and YaRN;
- for rotary models, a short fine-tune at 4x with linear interpolation
  (factor 4), as Chen et al. (2023) do, then 4x and 8x again.

Every run is a run directory under --output-dir (a killed study resumes:
finished runs are read back, a killed one resumes from its checkpoint), and
each run's evaluation is kept in results/ (written atomically). Prints
markdown tables (mean and standard deviation over seeds) and writes
summary.json, summary.md and lm_extrapolation.png.

    python benchmarks/lm_extrapolation.py --set download=shakespeare
    python benchmarks/lm_extrapolation.py --text any_text.txt

(`--set download=shakespeare`: Tiny Shakespeare, downloaded once into
Keras' cache, as `keras-posemb-lm --download shakespeare` does.)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import keras
import numpy as np
from _common import settings_from_pairs, trained_language_model

from keras_posemb import files
from keras_posemb.analysis import extrapolation
from keras_posemb.data import characters
from keras_posemb.training import language_model

FAMILIES = ("learned", "sinusoidal", "rotary", "alibi", "t5", "none")
# The headline's factors: 1x-8x, and 64x and 256x in attention blocks.
FACTORS = "1,2,4,8,64,256"
EXTENSIONS = ("linear", "ntk", "dynamic", "yarn")
# The fine-tune's batches: a random stream apart from training's intervals.
FINE_TUNE_STREAM = 10**6
# nanoGPT's README: the CPU recipe's validation loss, as reproductions report it.
NANOGPT_LOSS = 1.8857


def rope_scaling(extension: str, factor: float, context: int) -> dict:
    if extension in ("linear", "ntk"):
        return {"rope_type": extension, "factor": float(factor)}
    # Dynamic NTK with factor 1 scales by length / context itself; YaRN's
    # ramp is over wavelengths relative to the context.
    factor = 1.0 if extension == "dynamic" else float(factor)
    return {"rope_type": extension, "factor": factor, "original_max_position_embeddings": context}


def evaluate(model, config, validation, fine_tune_steps, log) -> dict:
    context = config.max_length
    result = {
        "sliding": extrapolation.extrapolation_losses(model, validation, context, sliding=True)
    }
    if config.position == "rotary":
        result["extensions"] = {
            extension: {
                str(f): extrapolation.window_loss(
                    extrapolation.with_rope_scaling(model, rope_scaling(extension, f, context)),
                    validation,
                    f * context,
                )
                for f in config.evaluation_factors[1:]
                if len(validation) > f * context
            }
            for extension in EXTENSIONS
        }
        if fine_tune_steps:
            log(f"  fine-tuning at 4x with linear interpolation, {fine_tune_steps} steps")
            result["fine_tuned_linear_4x"] = fine_tune(model, config, validation, fine_tune_steps)
    return result


def fine_tune(model, config, validation, steps) -> dict:
    """Linear interpolation by 4, trained `steps` steps on windows of 4x the
    context at a tenth of the peak learning rate (Chen et al. fine-tune 1,000
    steps at 2e-5); the validation loss at 4x and 8x after."""
    context = config.max_length
    scaled = extrapolation.with_rope_scaling(model, rope_scaling("linear", 4, context))
    scaled.compile(
        optimizer=keras.optimizers.AdamW(
            config.learning_rate / 10, weight_decay=config.weight_decay, beta_2=0.99,
            global_clipnorm=config.clip_norm or None,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() == "jax",
    )  # fmt: skip
    train = language_model.load_text(config).train
    keras.utils.set_random_seed(config.seed)
    batches = characters.random_windows(
        train, 4 * context, config.batch_size, steps, (config.seed, FINE_TUNE_STREAM)
    )
    scaled.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return {
        str(f): extrapolation.window_loss(scaled, validation, f * context)
        for f in (4, 8)
        if len(validation) > f * context
    }


def run_one(args, family, seed, log) -> dict:
    name = f"{family}_seed{seed}"
    result_path = args.output_dir / "results" / f"{name}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    log(f"{name}: training")
    config, metrics, model = trained_language_model(
        args.output_dir / name, args.text, args.settings, position=family, seed=seed
    )
    validation = language_model.load_text(config).validation
    start = time.perf_counter()
    result = {
        "family": family,
        "seed": seed,
        "windows": metrics["extrapolation"],
        "val_loss": metrics["val_loss"],
        "train_seconds": metrics["train_seconds"],
        "tokens_per_second": metrics["tokens_per_second"],
        **evaluate(model, config, validation, args.fine_tune_steps, log),
    }
    result["evaluation_seconds"] = time.perf_counter() - start
    result_path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(result_path, result)
    log(f"{name}: {json.dumps(result['windows'])}")
    return result


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": len(values)}


def summarize(results) -> dict:
    """Mean and standard deviation over seeds of every measured loss."""
    summary = {}
    for family in dict.fromkeys(r["family"] for r in results):
        runs = [r for r in results if r["family"] == family]
        entry = {
            kind: {f: mean_std([r[kind].get(f) for r in runs]) for f in runs[0][kind]}
            for kind in ("windows", "sliding")
        }
        if "extensions" in runs[0]:
            entry["extensions"] = {
                ext: {f: mean_std([r["extensions"][ext].get(f) for r in runs]) for f in table}
                for ext, table in runs[0]["extensions"].items()
            }
        if "fine_tuned_linear_4x" in runs[0]:
            entry["fine_tuned_linear_4x"] = {
                f: mean_std([r["fine_tuned_linear_4x"].get(f) for r in runs])
                for f in runs[0]["fine_tuned_linear_4x"]
            }
        entry["tokens_per_second"] = mean_std([r["tokens_per_second"] for r in runs])
        summary[family] = entry
    return summary


def shown(entry) -> str:
    if entry is None:
        return "n/a"
    spread = f" ± {entry['std']:.3f}" if entry["runs"] > 1 else ""
    return f"{entry['mean']:.3f}{spread}"


def header(factors) -> str:
    return "| | " + " | ".join(f"{f}x" for f in factors) + " |\n|---|" + "---:|" * len(factors)


def tables(summary) -> str:
    lines = []
    for kind, title in [("windows", "non-overlapping windows"), ("sliding", "sliding windows")]:
        columns = sorted(next(iter(summary.values()))[kind], key=int)
        lines += [f"\nValidation loss, {title} (mean ± std over seeds):\n", header(columns)]
        for family, entry in summary.items():
            row = " | ".join(shown(entry[kind].get(f)) for f in columns)
            lines.append(f"| {family} | {row} |")
    rotary = summary.get("rotary", {})
    if "extensions" in rotary:
        factors = sorted(rotary["windows"], key=int)
        lines += ["\nRotary with extensions at evaluation time (non-overlapping windows):\n"]
        lines.append(header(factors))
        lines.append(f"| none | {' | '.join(shown(rotary['windows'].get(f)) for f in factors)} |")
        for extension, table in rotary["extensions"].items():
            lines.append(f"| {extension} | {' | '.join(shown(table.get(f)) for f in factors)} |")
        if "fine_tuned_linear_4x" in rotary:
            table = rotary["fine_tuned_linear_4x"]
            row = " | ".join(shown(table.get(f)) for f in factors)
            lines.append(f"| linear, fine-tuned at 4x | {row} |")
    return "\n".join(lines)


def bars(summary) -> list[str]:
    lines = []
    default = language_model.LanguageModelConfig().position
    if default in summary and summary[default]["windows"]["1"]:
        loss = summary[default]["windows"]["1"]["mean"]
        verdict = "met" if loss <= NANOGPT_LOSS else "missed"
        lines.append(
            f"Bar: {default} (the default) at 1x: {loss:.4f} against nanoGPT's {NANOGPT_LOSS}: {verdict}."
        )
    if "alibi" in summary and summary["alibi"]["windows"]["8"]:
        one, eight = (summary["alibi"]["windows"][f]["mean"] for f in ("1", "8"))
        verdict = "met" if eight - one <= 0.05 else "missed"
        lines.append(
            f"Bar: ALiBi at 8x {eight:.4f} - 1x {one:.4f} = {eight - one:+.4f} (<= 0.05): {verdict}."
        )
    return lines


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    factors = sorted(next(iter(summary.values()))["windows"], key=int)
    for family, entry in summary.items():
        points = [(int(f), entry["windows"][f]) for f in factors if entry["windows"].get(f)]
        xs = [x for x, _ in points]
        axes.errorbar(xs, [e["mean"] for _, e in points], [e["std"] for _, e in points],
                      marker="o", capsize=3, label=family)  # fmt: skip
    for extension, table in summary.get("rotary", {}).get("extensions", {}).items():
        points = [(int(f), table[f]) for f in factors if table.get(f)]
        axes.plot([x for x, _ in points], [e["mean"] for _, e in points], linestyle="--",
                  marker=".", label=f"rotary + {extension}")  # fmt: skip
    axes.set_xscale("log", base=2)
    axes.set_xticks([int(f) for f in factors], [f"{f}x" for f in factors])
    axes.set_xlabel("evaluation length / training context")
    axes.set_ylabel("validation loss (nats per character)")
    axes.set_title("Length extrapolation, non-overlapping windows")
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    with files.replacing(path, suffix=".png") as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--text", type=Path, default=None, help="a text file (default: the built-in text)"
    )
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fine-tune-steps", type=int, default=200)
    parser.add_argument("--output-dir", type=Path, default=Path("runs/lm_extrapolation"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a trainer setting, e.g. --set steps=200")  # fmt: skip
    args = parser.parse_args(argv)
    args.settings = {
        "extrapolation": FACTORS,
        **settings_from_pairs(language_model.LanguageModelConfig, args.set),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)

    def log(message):
        print(message, flush=True)

    results = [
        run_one(args, family, int(seed), log)
        for seed in args.seeds.split(",")
        for family in args.families.split(",")
    ]
    summary = summarize(results)
    machine = f"{platform.machine()}, {keras.backend.backend()}, Keras {keras.__version__}"
    source = args.text or args.settings.get("download") or "built-in"
    text = f"Text: {source}; seeds {args.seeds}; {machine}.\n" + tables(summary)
    text += "\n\n" + "\n".join(bars(summary)) + "\n"
    print(text)
    files.atomic_write_json(args.output_dir / "summary.json", {"summary": summary, "runs": results})
    files.atomic_write_text(args.output_dir / "summary.md", text)
    plot(summary, args.output_dir / "lm_extrapolation.png")


if __name__ == "__main__":
    main()
