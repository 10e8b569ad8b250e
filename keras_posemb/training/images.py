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
from collections.abc import Sequence

import keras
import numpy as np

from keras_posemb.data import images as image_data
from keras_posemb.errors import argument_error
from keras_posemb.models.image_classifier import build_image_classifier
from keras_posemb.settings.images import BUILT_IN, SIZES, ImageTrainConfig
from keras_posemb.training.schedule import adamw_without_decay_on_vectors, warmup_cosine
from keras_posemb.training.session import TrainingSession, report_written, run_session


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
