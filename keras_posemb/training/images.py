"""Trains a Vision Transformer image classifier: what `keras-posemb-train-images` runs.

The same run directory and guarantees as the text trainer: every setting
checked before data is read, a checkpoint per epoch (a killed run resumes
exactly), the best validation accuracy kept, TensorBoard logs, and
`metrics.json`. The input pipeline is NumPy (`data.images`): no TensorFlow
is needed to train (tensorflow-datasets reads `mnist` and `cifar10`).

The default data set is the built-in shapes, where position is the whole
task: the run ends by printing the model's predictions for one image and
its mirror image.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Sequence

import keras
import numpy as np

from keras_posemb import _backend, families
from keras_posemb._args import check_int, check_number
from keras_posemb.data import images as image_data
from keras_posemb.errors import Setting, argument_error
from keras_posemb.models.image_classifier import POOLINGS, build_image_classifier
from keras_posemb.runs.run import IMAGE_CLASSIFIER, RunKind
from keras_posemb.training.config import RunSettings, check_output_dir, position_help, setting
from keras_posemb.training.schedule import adamw_without_decay_on_vectors, warmup_cosine
from keras_posemb.training.session import TrainingSession, report_written, run_session

BUILT_IN = "shapes"
# Image size and channels of the data sets, known before any is read.
SIZES = {BUILT_IN: (32, 1), "mnist": (28, 1), "cifar10": (32, 3)}


@dataclasses.dataclass
class ImageTrainConfig(RunSettings):
    """Every setting of an image run; `keras-posemb-train-images`' flags are these."""

    KIND: typing.ClassVar[RunKind] = IMAGE_CLASSIFIER

    dataset: str = setting(
        BUILT_IN,
        "'shapes' (built in: is the square left of the cross?), 'mnist' or 'cifar10' "
        "(tensorflow-datasets)",
        choices=tuple(SIZES),
    )
    task: str = setting("left", "the built-in set's question: left of, or above", image_data.TASKS)
    data_dir: str | None = setting(None, "tensorflow-datasets data directory", same_on_resume=False)
    download: bool = setting(
        False,
        "let tensorflow-datasets download and prepare the data set if it is not prepared",
        same_on_resume=False,
    )
    position: str = setting(
        "learned_2d",
        lambda: position_help(include_grid=True),
        lambda: families.names(include_grid=True),
    )
    output_dir: str | None = setting(
        None, "where the run's files go (default: runs/images_<dataset>_<position>)",
        same_on_resume=False,
    )  # fmt: skip
    epochs: int = setting(5, "training epochs")
    batch_size: int = setting(64, "images per batch")
    learning_rate: float = setting(1e-3, "peak learning rate (AdamW)")
    warmup_fraction: float = setting(0.1, "fraction of the steps with linear warmup")
    weight_decay: float = setting(0.05, "AdamW weight decay (matrices only)")
    patch_size: int = setting(4, "side of the square patches, in pixels")
    embed_dim: int = setting(64, "patch embedding width")
    ff_dim: int = setting(128, "feed-forward hidden width")
    num_layers: int = setting(2, "encoder blocks")
    dropout: float = setting(0.0, "dropout rate")
    pooling: str = setting("class", "a class token, or the mean of the patches", POOLINGS)

    def resolved_output_dir(self) -> str:
        if self.output_dir == "":
            raise argument_error("output_dir", "", "a path (or None for the default)")
        return self.output_dir or os.path.join("runs", f"images_{self.dataset}_{self.position}")

    @property
    def grid_size(self) -> tuple[int, int]:
        side = SIZES[self.dataset][0] // self.patch_size
        return side, side

    @property
    def tokens(self) -> int:
        """The encoder's sequence: the patches, after the class token if any."""
        rows, cols = self.grid_size
        return (self.pooling == "class") + rows * cols

    def validate(self) -> None:
        """Checks every setting, before data is read.

        Raises:
            ArgumentError: naming the setting, the value and what is expected.
        """
        self.check_fields()
        for name in ("epochs", "batch_size", "patch_size", "embed_dim", "ff_dim", "num_layers"):
            check_int(name, getattr(self, name))
        self.check_shared()
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("warmup_fraction", self.warmup_fraction, 0, 1, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("dropout", self.dropout, 0, 1, high_open=True)
        built_in = self.dataset == BUILT_IN
        self.check_applies(("task",), built_in, "with ", Setting("dataset", BUILT_IN))
        self.check_applies(
            ("data_dir", "download"), not built_in,
            "with a tensorflow-datasets set (", Setting("dataset", "mnist"), " or 'cifar10')",
        )  # fmt: skip
        if not built_in:
            _backend.require("tensorflow_datasets", f"The data set {self.dataset!r}")
        size = SIZES[self.dataset][0]
        if size % self.patch_size:
            raise argument_error(
                "patch_size",
                self.patch_size,
                f"a divisor of the {size}-pixel images of {self.dataset}",
            )
        settings = families.PositionSettings(
            self.embed_dim, self.num_heads, self.tokens, grid_size=self.grid_size,
            num_prefix_tokens=int(self.pooling == "class"),
        )  # fmt: skip
        families.get(self.position).check(settings)
        check_output_dir(self.resolved_output_dir())


def load_images(config: ImageTrainConfig) -> image_data.ImageData:
    if config.dataset == BUILT_IN:
        return image_data.shapes_data(config.seed, SIZES[BUILT_IN][0], config.task)
    return image_data.tfds_images(
        config.dataset, config.data_dir, config.download, seed=config.seed
    )


def build_model(config: ImageTrainConfig, dataset: image_data.ImageData):
    return build_image_classifier(
        dataset.image_size, config.patch_size, len(dataset.class_names), config.position,
        dataset.channels, config.embed_dim, config.num_heads, config.ff_dim, config.num_layers,
        config.dropout, config.pooling,
    )  # fmt: skip


def make_optimizer(config: ImageTrainConfig, model, steps: int) -> keras.optimizers.Optimizer:
    """AdamW, linear warmup then cosine decay to zero over `steps`."""
    schedule = warmup_cosine(config.learning_rate, steps, int(config.warmup_fraction * steps))
    return adamw_without_decay_on_vectors(model, schedule, config.weight_decay)


def training_batches(
    config: ImageTrainConfig, split: image_data.ImageSplit, first_epoch: int, first_step: int = 0
):
    """Shuffled batches from step `first_step` of epoch `first_epoch` on, each
    epoch's order drawn from `(seed, epoch)`: a resumed run sees the same
    batches."""
    for epoch in range(first_epoch, config.epochs):
        order = np.random.default_rng((config.seed, epoch)).permutation(len(split))
        skipped = first_step * config.batch_size if epoch == first_epoch else 0
        for start in range(skipped, len(order) - config.batch_size + 1, config.batch_size):
            chosen = order[start : start + config.batch_size]
            yield split.images[chosen], split.labels[chosen]


def train_images(
    config: ImageTrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
) -> dict:
    """Trains, evaluates and writes the run directory; returns the metrics.

    Rerunning the same config into the same directory after a kill resumes
    from the last completed epoch; rerunning a finished run returns its
    metrics and changes nothing; a config with other settings is refused.
    """
    return run_session(config, extra_callbacks, ImageSession)


class ImageSession(TrainingSession):
    """One call of `train_images`: the Vision Transformer on NumPy batches."""

    loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    # The position tables of a grid family are drawn, not projected.
    writes_projector = False

    @staticmethod
    def load(config, log):
        return load_images(config)

    def prepare(self):
        config, dataset = self.config, self.data
        task = f" (task {config.task!r})" if config.dataset == BUILT_IN else ""
        self.log(
            f"Data set {config.dataset!r}{task}: {len(dataset.train):,} training, "
            f"{len(dataset.validation):,} validation and {len(dataset.test):,} test images of "
            f"{dataset.image_size[0]} x {dataset.image_size[1]}, {len(dataset.class_names)} classes."
        )
        self.steps_per_epoch = len(dataset.train) // config.batch_size
        if self.steps_per_epoch == 0:
            raise argument_error(
                "batch_size", config.batch_size, f"at most the {len(dataset.train)} training images"
            )
        self.epochs = config.epochs

    def build_model(self):
        return build_model(self.config, self.data)

    def make_optimizer(self):
        return make_optimizer(self.config, self.model, self.steps_per_epoch * self.epochs)

    @property
    def summary_length(self):
        return self.config.tokens

    trained_length = summary_length

    def batches(self, epoch, step):
        return training_batches(self.config, self.data.train, epoch, step)

    def validation_arguments(self):
        validation = self.data.validation
        return {
            "validation_data": (validation.images, validation.labels),
            "validation_batch_size": 256,
        }

    def save_task_files(self):
        self.run.write_classes(self.data.class_names)

    @staticmethod
    def finished_summary(metrics):
        return f"test accuracy {metrics['test_accuracy']:.4f}"

    @staticmethod
    def report(config, run, metrics, log):
        _report(run, metrics, log)

    def evaluate(self) -> dict:
        config, test, state = self.config, self.data.test, self.checkpoints.state
        probabilities = self.model.predict(test.images, batch_size=256, verbose=0)
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == test.labels))
        seconds = self.checkpoints.train_seconds
        metrics = {
            "dataset": self.data.name,
            "position": config.position,
            "backend": keras.backend.backend(),
            "image_size": list(self.data.image_size),
            "grid_size": list(self.model.grid_size),
            "test_accuracy": accuracy,
            "val_accuracy": state["best"]["val_accuracy"],
            "best_epoch": state["best"]["epoch"],
            "validation_curve": [entry.get("val_accuracy") for entry in state["history"]],
            "train_seconds": seconds,
            "images_per_second": (
                state["epoch"] * self.steps_per_epoch * config.batch_size / seconds
                if seconds else None
            ),
            "seed": config.seed,
            "config": dataclasses.asdict(config),
        }  # fmt: skip
        if self.data.name.startswith("shapes"):
            # The first test pair: an image and its mirror image.
            metrics["twin_pair"] = [
                {
                    "label": self.data.class_names[test.labels[i]],
                    "predicted": _top(p, self.data),
                }
                for i, p in enumerate(probabilities[:2])
            ]
        return metrics


def _top(probabilities, dataset) -> dict:
    best = int(np.argmax(probabilities))
    return {"class": dataset.class_names[best], "probability": float(probabilities[best])}


def _report(run, metrics, log):
    log(
        f"\nKept epoch {metrics['best_epoch']}, the best on validation (accuracy "
        f"{metrics['val_accuracy']:.4f}). Test accuracy: {metrics['test_accuracy']:.4f}. "
        f"{metrics['train_seconds']:.1f} s of training."
    )
    for twin, name in zip(metrics.get("twin_pair", []), ("image", "mirror image")):
        predicted = twin["predicted"]
        log(
            f"  {name:>12}: {twin['label']!r} -> predicted {predicted['class']!r} "
            f"({predicted['probability']:.3f})"
        )
    report_written(run, log)
