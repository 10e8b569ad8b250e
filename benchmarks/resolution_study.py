"""Resolution change: train a Vision Transformer at one image size, evaluate at others.

Heo et al. (2024) find that 2-D rotary positions keep accuracy best when the
resolution grows. This study asks the same on the built-in shapes (is the
square left of the cross?): one model per position family and seed is
trained at 32 x 32 with `keras-posemb-train-images`' trainer, then made
again for 16 to 64 pixels (0.5x to 2x the patches per side) with
`resize_image_classifier`, and evaluated on the same test scenes rescaled to
that size (bilinear, antialiased: objects grow with the image, as when a
photograph is taken at a higher resolution):

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
from keras_posemb.image_classifier import resize_image_classifier
from keras_posemb.resample import resample_table
from keras_posemb.run import Run
from keras_posemb.training.images import ImageTrainConfig, train_images

FAMILIES = ("learned_2d", "sinusoidal_2d", "rotary_2d", "rotary_mixed", "learned", "sinusoidal")
SIZES = (16, 24, 32, 48, 64)
TRAINED_SIZE = 32
# How each family's model is resized: {variant: interpolation}.
VARIANTS = {"learned_2d": {"learned_2d bicubic": "bicubic", "learned_2d bilinear": "bilinear"}}


def rescale(split: images.ImageSplit, size: int) -> np.ndarray:
    """The split's images at `size` x `size`, bilinear and antialiased."""
    count, rows, cols, channels = split.images.shape
    stacked = split.images.transpose(1, 2, 0, 3).reshape(rows, cols, count * channels)
    resized = resample_table(stacked, (size, size), "linear")
    return resized.reshape(size, size, count, channels).transpose(2, 0, 1, 3).astype(np.float32)


def accuracy(model, split, size) -> float:
    probabilities = model.predict(rescale(split, size), batch_size=256, verbose=0)
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
    test = images.shapes_data(seed, TRAINED_SIZE, config.task).test
    variants = VARIANTS.get(family, {family: None})
    result = {
        "family": family,
        "seed": seed,
        "train_seconds": metrics["train_seconds"],
        "accuracy": {
            variant: {
                str(size): accuracy(resize_image_classifier(model, size, method), test, size)
                for size in args.sizes
            }
            for variant, method in variants.items()
        },
    }
    files.atomic_write_json(result_path, result)
    log(f"{name}: {json.dumps(result['accuracy'])}")
    return result


def summarize(results, sizes) -> dict:
    by_variant = {}
    for result in results:
        for variant, accuracies in result["accuracy"].items():
            for size in sizes:
                by_variant.setdefault(variant, {}).setdefault(str(size), []).append(
                    accuracies[str(size)]
                )
    return {
        variant: {
            size: {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
            for size, values in by_size.items()
        }
        for variant, by_size in by_variant.items()
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

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    for variant, by_size in summary.items():
        means = [by_size[str(size)]["mean"] for size in sizes]
        stds = [by_size[str(size)]["std"] for size in sizes]
        ax.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=variant)
    ax.axvline(TRAINED_SIZE, color="grey", linestyle="--", linewidth=1)
    ax.axhline(0.5, color="black", linewidth=0.6)
    ax.set(
        xlabel="image size at evaluation (trained at 32)", ylabel="test accuracy",
        title="Resolution change: accuracy by image size", xticks=list(sizes),
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
    table = markdown(summary, args.sizes, patch_size)
    machine = f"{platform.machine()}, {keras.backend.backend()}, Keras {keras.__version__}"
    text = f"Test accuracy (mean ± std over seeds {args.seeds}; {machine}):\n\n{table}\n"
    print("\n" + text)
    files.atomic_write_text(args.output_dir / "summary.md", text)
    files.atomic_write_json(args.output_dir / "summary.json", {"runs": results, "summary": summary})
    plot(summary, args.sizes, args.output_dir / "resolution_study.png")


if __name__ == "__main__":
    main()
