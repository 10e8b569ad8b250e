"""Resolution change: train a Vision Transformer at one image size, evaluate at others.

Heo et al. (2024) find that 2-D rotary positions keep accuracy best when the
resolution grows. This study asks the same on the built-in shapes (is the
square left of the cross?): one model per position family and seed is
trained at 32 x 32 with `keras-posemb-train-images`' trainer, then made
again for 16 to 64 pixels (0.5x to 2x the patches per side) with
`resize_image_classifier`, and evaluated two ways:

- "rescaled": the trained size's test scenes rescaled to the new size
  (bilinear, antialiased): objects grow with the image, as when a photograph
  is taken at a higher resolution, so each patch also shows something new;
- "larger canvas": new test scenes drawn at the new size, with the shapes
  and their 8-pixel cells as in training: patches look as they did, only
  the grid of them is smaller or larger, so only the positions are new.

Positions per family:

- `learned_2d`: the table resampled bicubic, and bilinear;
- `sinusoidal_2d`, `rotary_2d`, `rotary_mixed`: computed for the new grid;
- the 1-D baselines over the flattened patches: `learned` (its table
  resampled along its length, cubic) and `sinusoidal`.

Runs are run directories under --output-dir (a killed study resumes), each
run's evaluation is kept in results/. Prints a markdown table (mean and
standard deviation of test accuracy over seeds) and writes summary.json,
summary.md and resolution_study.png.

    python benchmarks/resolution_study.py
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import keras
import numpy as np
from _common import settings_from_pairs

from keras_posemb import files
from keras_posemb.data import images
from keras_posemb.models.resampling import resize_image_classifier
from keras_posemb.numerics.resample import resample_table
from keras_posemb.runs.run import Run
from keras_posemb.training.images import ImageTrainConfig, train_images

FAMILIES = ("learned_2d", "sinusoidal_2d", "rotary_2d", "rotary_mixed", "learned", "sinusoidal")
SIZES = (16, 24, 32, 48, 64)
TRAINED_SIZE = 32
# How each family's model is resized: {variant: interpolation}.
VARIANTS = {"learned_2d": {"learned_2d bicubic": "bicubic", "learned_2d bilinear": "bilinear"}}
MODES = ("rescaled", "larger canvas")


def rescale(split: images.ImageSplit, size: int) -> np.ndarray:
    """The split's images at `size` x `size`, bilinear and antialiased."""
    count, rows, cols, channels = split.images.shape
    stacked = split.images.transpose(1, 2, 0, 3).reshape(rows, cols, count * channels)
    resized = resample_table(stacked, (size, size), "linear")
    return resized.reshape(size, size, count, channels).transpose(2, 0, 1, 3).astype(np.float32)


def evaluation_split(mode, seed, task, size) -> images.ImageSplit:
    """The test split at `size` pixels, the way `mode` (one of MODES) makes it."""
    if mode == "rescaled":
        test = images.shapes_data(seed, TRAINED_SIZE, task).test
        return images.ImageSplit(rescale(test, size), test.labels)
    return images.shapes_data(seed, size, task).test


def accuracy(model, split) -> float:
    probabilities = model.predict(split.images, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == split.labels))


def run_one(args, family, seed, log) -> dict:
    name = f"{family}_seed{seed}"
    result_path = args.output_dir / "results" / f"{name}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    config = ImageTrainConfig(
        position=family, seed=seed, output_dir=str(args.output_dir / name), plots=False,
        verbose=0, **args.settings,
    )  # fmt: skip
    log(f"{name}: training")
    metrics = train_images(config)
    model = keras.saving.load_model(Run(config.output_dir).path("model.keras"), safe_mode=True)
    variants = VARIANTS.get(family, {family: None})
    accuracies = {mode: {variant: {} for variant in variants} for mode in MODES}
    for size in args.sizes:
        tests = {mode: evaluation_split(mode, seed, config.task, size) for mode in MODES}
        for variant, method in variants.items():
            resized = resize_image_classifier(model, size, method)
            for mode, test in tests.items():
                accuracies[mode][variant][str(size)] = accuracy(resized, test)
    result = {
        "family": family,
        "seed": seed,
        "train_seconds": metrics["train_seconds"],
        "accuracy": accuracies,
    }
    files.atomic_write_json(result_path, result)
    log(f"{name}: {json.dumps(result['accuracy'])}")
    return result


def summarize(results, sizes) -> dict:
    """{mode: {variant: {size: {mean, std, n}}}} over the seeds."""
    values = {}
    for result in results:
        for mode, by_variant in result["accuracy"].items():
            for variant, by_size in by_variant.items():
                for size in sizes:
                    cell = values.setdefault(mode, {}).setdefault(variant, {})
                    cell.setdefault(str(size), []).append(by_size[str(size)])
    return {
        mode: {
            variant: {
                size: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                for size, v in by_size.items()
            }
            for variant, by_size in by_variant.items()
        }
        for mode, by_variant in values.items()
    }


def markdown(summary, sizes, patch_size) -> str:
    header = " | ".join(f"{size} px ({size // patch_size}x{size // patch_size})" for size in sizes)
    lines = [f"| positions | {header} |", "|---" * (len(sizes) + 1) + "|"]
    for variant, by_size in summary.items():
        cells = []
        for size in sizes:
            cell = by_size[str(size)]
            cells.append(f"{cell['mean']:.3f}" + (f" ± {cell['std']:.3f}" if cell["n"] > 1 else ""))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary, sizes, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.5), layout="constrained")
    for ax, (mode, by_variant) in zip(
        figure.subplots(1, len(summary), sharey=True), summary.items()
    ):
        for variant, by_size in by_variant.items():
            means = [by_size[str(size)]["mean"] for size in sizes]
            stds = [by_size[str(size)]["std"] for size in sizes]
            ax.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=variant)
        ax.axvline(TRAINED_SIZE, color="grey", linestyle="--", linewidth=1)
        ax.axhline(0.5, color="black", linewidth=0.6)
        ax.set(
            xlabel=f"image size at evaluation (trained at {TRAINED_SIZE})", ylabel="test accuracy",
            title=f"{mode} test images", xticks=list(sizes),
        )  # fmt: skip
    ax.legend(fontsize=8)
    files.atomic_save_figure(figure, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--output-dir", type=Path, default=Path("runs/resolution_study"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a trainer setting, e.g. --set epochs=2")  # fmt: skip
    args = parser.parse_args(argv)
    args.settings = settings_from_pairs(ImageTrainConfig, args.set)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    results = [
        run_one(args, family, int(seed), lambda message: print(message, flush=True))
        for seed in args.seeds.split(",")
        for family in args.families.split(",")
    ]
    summary = summarize(results, args.sizes)
    patch_size = args.settings.get("patch_size", ImageTrainConfig.patch_size)
    tables = "\n\n".join(
        f"{mode} test images:\n\n{markdown(by_variant, args.sizes, patch_size)}"
        for mode, by_variant in summary.items()
    )
    machine = f"{platform.machine()}, {keras.backend.backend()}, Keras {keras.__version__}"
    text = f"Test accuracy (mean ± std over seeds {args.seeds}; {machine}).\n\n{tables}\n"
    print("\n" + text)
    files.atomic_write_text(args.output_dir / "summary.md", text)
    files.atomic_write_json(args.output_dir / "summary.json", {"runs": results, "summary": summary})
    plot(summary, args.sizes, args.output_dir / "resolution_study.png")


if __name__ == "__main__":
    main()
