"""The text classifier's training task: token ids from a `TextVectorization`
in length buckets, the encoder classifier, patience on validation accuracy,
and the raw-text model beside the model."""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import TYPE_CHECKING

import keras

from keras_posemb import data as data_lib
from keras_posemb import models
from keras_posemb._memory import check_fits
from keras_posemb.runs import predict, serving
from keras_posemb.runs.checkpoints import PlateauPatience
from keras_posemb.training.schedule import learning_rate_schedule, planned_epochs
from keras_posemb.training.session import TrainingSession, report_written

if TYPE_CHECKING:
    from keras_posemb.settings import TrainConfig

# The lesson's pair: the same words, opposite labels on the built-in data set.
EXAMPLE_SENTENCES = ("the dog chased the cat", "the cat chased the dog")


def _arguments_from(config, function, **given) -> dict:
    """`given`, and every other parameter of `function` that `config` has a
    field of the same name for: a new setting reaches the model or the
    data loader without being forwarded by hand."""
    names = {field.name for field in dataclasses.fields(config)}
    parameters = inspect.signature(function).parameters
    chosen = {name: getattr(config, name) for name in parameters if name in names}
    return {**chosen, **given}


def build_model(config: TrainConfig, vocab_size: int, num_classes: int) -> keras.Model:
    return models.build_text_classifier(
        **_arguments_from(
            config, models.build_text_classifier, vocab_size=vocab_size, num_classes=num_classes
        )
    )


def load_data(config: TrainConfig) -> data_lib.TextData:
    dataset = data_lib.load_dataset(**_arguments_from(config, data_lib.load_dataset))
    check_attention_memory(config, dataset)
    return dataset


# Tensors of (batch, heads, query, key) floats that one attention layer keeps
# for the backward pass: logits, softmax weights, dropout mask, a gradient.
ATTENTION_TENSORS = 4


def check_attention_memory(config: TrainConfig, dataset: data_lib.TextData) -> None:
    """Refuses, before training, batches whose attention cannot fit in memory.

    The longest batch holds the longest training text (in words, at most
    `max_length`); each layer keeps `ATTENTION_TENSORS` float32 tensors of
    `(batch, heads, length, length)` for the backward pass.
    """
    longest = max(len(text.split()) for text in dataset.train.texts)
    length = min(config.max_length, longest)
    needed = 4 * ATTENTION_TENSORS * config.num_layers * config.batch_size
    needed *= config.num_heads * length**2
    check_fits(
        "max_length", config.max_length, needed,
        f"attention over {length:,} tokens in batches of {config.batch_size}",
    )  # fmt: skip


class TextSession(TrainingSession):
    """One call of `train`: the vectorizer, the length-bucketed pipelines, the
    classifier and its patience."""

    # Divided by the sample weights' sum: rows that only pad a batch for data
    # parallelism (weight 0) do not dilute it.
    loss = keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")
    metrics = ["accuracy"]

    def __init__(self, config, run, data, log, distribution=None):
        super().__init__(config, run, data, log, distribution)
        self.patience = PlateauPatience(self.checkpoints, config.patience, len(data.validation))

    @staticmethod
    def load(config, log):
        dataset = load_data(config)
        files_given = config.validation_file and config.test_file
        if files_given and os.path.samefile(config.validation_file, config.test_file):
            log(
                "Warning: the validation file is the test file. It picks the best epoch, so "
                "the test accuracy is optimistic."
            )
        return dataset

    def prepare(self):
        config, dataset, distribution = self.config, self.data, self.distribution
        self.vectorizer = data_lib.make_vectorizer(dataset.train.texts, config.vocab_size)
        batch_size = config.batch_size * distribution.replicas
        multiple = distribution.batch_multiple
        self.held_out = {
            name: data_lib.make_pipeline(
                split, self.vectorizer, config.max_length, batch_size, multiple
            )
            for name, split in [("validation", dataset.validation), ("test", dataset.test)]
        }
        self.training_batches = data_lib.TrainingBatches(
            dataset.train, self.vectorizer, config.max_length, batch_size, config.seed, multiple
        )
        self.log(
            f"Data set {config.dataset!r}: {len(dataset.train):,} training, "
            f"{len(dataset.validation):,} validation and {len(dataset.test):,} test examples; "
            f"{len(dataset.class_names)} classes; "
            f"vocabulary {self.vectorizer.vocabulary_size()}."
        )
        self.steps_per_epoch = self.training_batches.steps_per_epoch
        self.epochs = planned_epochs(config, self.steps_per_epoch)

    def build_model(self):
        return build_model(
            self.config, self.vectorizer.vocabulary_size(), len(self.data.class_names)
        )

    def make_optimizer(self):
        schedule = learning_rate_schedule(self.config, self.steps_per_epoch, self.epochs)
        return keras.optimizers.AdamW(schedule, weight_decay=self.config.weight_decay)

    def callbacks_after(self):
        return [self.patience]

    def should_stop(self):
        return self.patience.should_stop(self.epochs)

    def batches(self, epoch, step):
        return self.training_batches.epochs(epoch, self.epochs, step)

    def validation_arguments(self):
        return {"validation_data": self.held_out["validation"]}

    @property
    def trained_length(self):
        return self.training_batches.longest

    def evaluate(self) -> dict:
        config, dataset, state = self.config, self.data, self.checkpoints.state
        results = {
            name: self.model.evaluate(pipeline, verbose=0, return_dict=True)
            for name, pipeline in self.held_out.items()
        }
        seconds = self.checkpoints.train_seconds
        return {
            "dataset": dataset.name,
            "position": config.position,
            "backend": keras.backend.backend(),
            "class_names": dataset.class_names,
            "train_examples": len(dataset.train),
            "longest_train_tokens": self.training_batches.longest,
            "validation_examples": len(dataset.validation),
            "test_examples": len(dataset.test),
            "val_accuracy": results["validation"]["accuracy"],
            "test_accuracy": results["test"]["accuracy"],
            "test_loss": results["test"]["loss"],
            "epochs": self.epochs,
            "epochs_trained": state["epoch"],
            "epochs_this_run": self.checkpoints.epochs_this_run,
            "best_epoch": self.checkpoints.best_epoch,
            "stopped_early": self.should_stop(),
            "validation_curve": [
                {key: entry[key] for key in ("epoch", "val_accuracy", "val_loss") if key in entry}
                for entry in state["history"]
            ],
            "train_seconds": seconds,
            "examples_per_second": (
                len(dataset.train) * state["epoch"] / seconds if seconds else None
            ),
            "seed": config.seed,
            "jit_compile": config.jit_compile,
            "config": dataclasses.asdict(config),
        }

    def save_task_files(self):
        run = self.run
        run.write_vocabulary(self.vectorizer.get_vocabulary())
        run.write_classes(self.data.class_names)
        if keras.backend.backend() == "tensorflow":  # TextVectorization runs TensorFlow ops.
            run.save_text_model(serving.build_string_classifier(self.model, self.vectorizer))

    @staticmethod
    def finished_summary(metrics):
        return f"test accuracy {metrics['test_accuracy']:.4f}"

    @staticmethod
    def report(config, run, metrics, log):
        kept = ""
        if metrics["best_epoch"] is not None:
            stop = " (stopped early)" if metrics["stopped_early"] else ""
            kept = (
                f"Kept epoch {metrics['best_epoch']} of {metrics['epochs_trained']}{stop}, "
                "the best on validation. "
            )
        log(
            f"\n{kept}Test accuracy {metrics['test_accuracy']:.4f}, validation accuracy "
            f"{metrics['val_accuracy']:.4f}; {metrics['train_seconds']:.1f} s of training, "
            f"{metrics['examples_per_second'] or 0:.0f} examples/s."
        )
        if config.dataset == data_lib.BUILT_IN:
            log("\nSame words, opposite labels: what the model says.")
            for line in predict.format_predictions(predict.predict_run(run, EXAMPLE_SENTENCES)):
                log(line)
        report_written(run, log)
