"""Trains the text classifier and writes its run directory (`run.Run`).

`train(TrainConfig(...))` is what `keras-posemb-train` runs: it checks every
setting before reading any data, refuses to resume a run made with other
settings or data, trains with a checkpoint per epoch (a killed run resumes
where it stopped, exactly), keeps the best validation epoch, and writes the
model, the raw-text model, vocabulary, class names, metrics, TensorBoard
logs and plots.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from keras_posemb import data as data_lib
from keras_posemb import files, models, predict, serving, summaries, viz
from keras_posemb._args import check_bool, check_choice, check_divisible, check_int, check_number
from keras_posemb.checkpoints import EpochCheckpoints
from keras_posemb.data.order import MIN_WORDS, check_split_size
from keras_posemb.errors import RunError, Setting, argument_error
from keras_posemb.run import Run

STRATEGIES = ("default", "mirrored")
# The lesson's pair: the same words, opposite labels on the built-in data set.
EXAMPLE_SENTENCES = ("the dog chased the cat", "the cat chased the dog")


def setting(default: Any, help: str, choices: tuple | None = None, same_on_resume: bool = True):
    """A `TrainConfig` field; the command line is generated from these.

    Args:
        default: the default value.
        help: the flag's help text.
        choices: the values it may take, if a fixed set.
        same_on_resume: whether a resumed run must have the same value
            (everything that changes what is trained).
    """
    metadata = {"help": help, "choices": choices, "same_on_resume": same_on_resume}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run; `keras-posemb-train`'s flags are these."""

    dataset: str = setting(
        "order",
        "'order' (built in), a tensorflow-datasets name (imdb_reviews, ag_news_subset, "
        "glue/sst2, ...), a .tsv/.csv file with a header row, or a directory with one "
        "subdirectory of .txt files per class",
    )
    validation_file: str | None = setting(
        None, "validation data for a local data set (default: a seeded 10%% of the training file)"
    )
    test_file: str | None = setting(
        None, "test data for a local data set (default: a seeded 10%% of the training file)"
    )
    text_column: str | None = setting(
        None, "text column of a .tsv/.csv file (default: text, sentence, content, review, ...)"
    )
    label_column: str | None = setting(
        None, "label column of a .tsv/.csv file (default: label, class, sentiment, ...)"
    )
    encoding: str = setting(
        "utf-8", "text encoding of local files (a UTF-8 byte-order mark is accepted)"
    )
    data_dir: str | None = setting(None, "tensorflow-datasets data directory", same_on_resume=False)
    download: bool = setting(
        False,
        "let tensorflow-datasets download and prepare the data set if it is not prepared",
        same_on_resume=False,
    )
    max_words: int = setting(24, "longest sentence of the built-in 'order' data set, in words")
    order_train_size: int = setting(
        16000, "training sentences of the built-in 'order' data set (validation and test: 1/8 each)"
    )
    position: str = setting("sinusoidal", "position encoding", choices=models.POSITIONS)
    output_dir: str | None = setting(
        None, "where the run's files go (default: runs/<dataset>_<position>)", same_on_resume=False
    )
    overwrite: bool = setting(
        False,
        "start afresh in an output directory that holds another run (its files are removed)",
        same_on_resume=False,
    )
    epochs: int | None = setting(
        None,
        "training epochs, at most (see --patience); default: about 3,000 optimizer steps, 3 to 10 epochs",
    )
    patience: int = setting(
        3,
        "stop after this many epochs without a better validation accuracy, counted from the first epoch that beats the first by more than noise (0: never stop early); the best epoch's weights are kept",
    )
    batch_size: int = setting(64, "examples per batch (per replica)")
    learning_rate: float = setting(1e-3, "peak learning rate (AdamW)")
    warmup_fraction: float = setting(
        0.1, "fraction of the steps with linear warmup before the cosine decay"
    )
    weight_decay: float = setting(0.01, "AdamW weight decay")
    max_length: int = setting(
        64, "texts are truncated to this many tokens; also the learned table's length"
    )
    vocab_size: int = setting(20000, "vocabulary size, padding and out-of-vocabulary included")
    embed_dim: int = setting(64, "embedding width")
    num_heads: int = setting(4, "attention heads (must divide --embed-dim)")
    ff_dim: int = setting(128, "feed-forward hidden width")
    num_layers: int = setting(2, "encoder blocks")
    dropout: float = setting(0.1, "dropout rate")
    token_dropout: float = setting(
        0.0, "in training, replace each word with the unknown-word id with this probability"
    )
    pooling: str = setting("mean", "how the encoder output is pooled", choices=models.POOLING_MODES)
    norm_first: bool = setting(
        True, "pre-norm encoder blocks (--no-norm-first: post-norm, as in the paper)"
    )
    scale_embeddings: bool = setting(True, "multiply token embeddings by sqrt(embed-dim)")
    seed: int = setting(
        0,
        "random seed: the same seed and settings give the same metrics on CPU, interrupted or not",
    )
    mixed_precision: bool = setting(False, "mixed precision: float16 on GPU, bfloat16 on CPU")
    jit_compile: bool = setting(False, "compile training with XLA (JAX always compiles)")
    strategy: str = setting(
        "default",
        "'default': one device; 'mirrored': data parallel over all local GPUs",
        choices=STRATEGIES,
    )
    plots: bool = setting(
        True, "write PNG plots of the position vectors (--no-plots to skip)", same_on_resume=False
    )
    verbose: int = setting(
        1,
        "1: progress bars, 2: one line per epoch, 0: only the summary",
        choices=(0, 1, 2),
        same_on_resume=False,
    )

    def resolved_output_dir(self) -> str:
        name = f"{data_lib.dataset_name(self.dataset)}_{self.position}"
        return self.output_dir or os.path.join("runs", name)

    def settings_to_match(self) -> dict:
        """The settings a resumed run must share with the run it resumes."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.metadata["same_on_resume"]
        }

    def validate(self) -> None:
        """Checks every setting, before any data is read.

        Raises:
            ArgumentError: naming the setting, the value and what is
                expected.
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                check_bool(field.name, value)
            elif field.metadata["choices"] is not None:
                check_choice(field.name, value, field.metadata["choices"])
            elif field.type == "str | None" and not isinstance(value, (str, type(None))):
                raise argument_error(field.name, value, "a string or None")
        if self.epochs is not None:
            check_int("epochs", self.epochs)
        for name in ("batch_size", "max_length", "embed_dim", "ff_dim", "num_layers"):
            check_int(name, getattr(self, name))
        check_int("vocab_size", self.vocab_size, minimum=3)  # Padding, OOV and a word.
        check_int("patience", self.patience, minimum=0)
        check_int("seed", self.seed, minimum=0)
        check_int("max_words", self.max_words, minimum=MIN_WORDS)
        check_split_size("order_train_size", self.order_train_size, minimum=2)
        check_divisible("num_heads", self.num_heads, "embed_dim", self.embed_dim)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("warmup_fraction", self.warmup_fraction, 0, 1, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("dropout", self.dropout, 0, 1, high_open=True)
        check_number("token_dropout", self.token_dropout, 0, 1, high_open=True)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise argument_error(
                "encoding", self.encoding, "a text encoding Python knows, such as utf-8"
            ) from None
        data_lib.check_dataset_arguments(
            self.dataset, self.validation_file, self.test_file, self.text_column, self.label_column
        )
        check_strategy(self.strategy)
        _check_output_dir(self.resolved_output_dir())


def _check_output_dir(path):
    existing = next(p for p in [Path(path), *Path(path).parents] if p.exists())
    if not existing.is_dir():
        raise argument_error(
            "output_dir", path, f"a directory or a new path ({existing} is a file)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argument_error("output_dir", path, f"writable ({existing} is not)")


def precision_policy(mixed_precision: bool) -> str:
    """float16 where GPUs do it fast, bfloat16 on CPUs, else float32."""
    if not mixed_precision:
        return "float32"
    return "mixed_float16" if _gpu_names() else "mixed_bfloat16"


def _gpu_names() -> list[str]:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in gpus
        ]
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def describe_devices() -> str:
    gpus = _gpu_names()
    if gpus:
        return f"{len(gpus)} GPU(s): {', '.join(gpus)}"
    return f"CPU ({os.cpu_count()} cores)"


@contextlib.contextmanager
def _process_settings(config):
    """Sets the dtype policy, seeds and determinism for one run; restores them after.

    The dtype policy and TensorFlow's op determinism are process-wide, so a
    caller (a notebook, a test) gets its own back when `train` returns.
    """
    # The public API can switch determinism on, but not tell or undo it.
    from tensorflow.python.framework import config as tf_config

    policy = keras.config.dtype_policy()
    deterministic = tf_config.is_op_determinism_enabled()
    keras.config.set_dtype_policy(precision_policy(config.mixed_precision))
    keras.utils.set_random_seed(config.seed)
    # Same seed, same metrics. XLA on CPU is deterministic by itself, and
    # on GPUs determinism can slow or refuse ops, so only CPU runs ask.
    determinism = (
        keras.backend.backend() == "tensorflow" and not config.jit_compile and not _gpu_names()
    )
    if determinism:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(policy)
        if determinism and not deterministic:
            tf_config.disable_op_determinism()


def check_strategy(name: str) -> str:
    check_choice("strategy", name, STRATEGIES)
    backend = keras.backend.backend()
    if name == "mirrored" and backend not in ("tensorflow", "jax"):
        raise argument_error(
            "strategy",
            name,
            f"'default' under the {backend} backend (mirrored needs tensorflow or jax)",
        )
    return name


class Distribution:
    """Data parallelism for `--strategy` on the active backend.

    `"mirrored"` is `tf.distribute.MirroredStrategy` on TensorFlow and
    `keras.distribution.DataParallel` on JAX, over all local GPUs (or CPUs
    split into logical devices, as the tests do).
    """

    def __init__(self, name: str):
        self.name = check_strategy(name)
        self.backend = keras.backend.backend()
        self._strategy = self._distribution = None
        if name == "default":
            self.replicas = 1
        elif self.backend == "tensorflow":
            import tensorflow as tf

            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
            self._strategy = tf.distribute.MirroredStrategy(devices)
            self.replicas = self._strategy.num_replicas_in_sync
        elif self.backend == "jax":
            self._distribution = keras.distribution.DataParallel()
            self.replicas = len(self._distribution.device_mesh.devices.ravel())
        # JAX splits each batch evenly over its devices; TensorFlow splits
        # uneven batches itself.
        self.batch_multiple = self.replicas if self._distribution is not None else 1

    @contextlib.contextmanager
    def scope(self):
        if self._strategy is not None:
            with self._strategy.scope():
                yield
        elif self._distribution is not None:
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(self._distribution)
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)
        else:
            yield


AUTO_EPOCH_STEPS, AUTO_EPOCH_RANGE = 3000, (3, 10)


def planned_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """`config.epochs`, or by default as many as make about 3,000 steps, 3 to 10.

    Why by data size: the learning rate decays over the planned epochs, so
    early stopping alone cannot shorten a schedule planned too long. On
    SST-2 (950 steps an epoch) ten epochs stop, at best, at a high learning
    rate and an overfit model (78.9% dev accuracy against 81% with three);
    on a few thousand sentences ten epochs are only a few hundred steps.
    """
    if config.epochs is not None:
        return config.epochs
    low, high = AUTO_EPOCH_RANGE
    return min(high, max(low, round(AUTO_EPOCH_STEPS / steps_per_epoch)))


def learning_rate_schedule(
    config: TrainConfig, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warmup to `learning_rate`, then cosine decay to zero."""
    total = max(1, epochs * steps_per_epoch)
    warmup = int(total * config.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def build_model(config: TrainConfig, vocab_size: int, num_classes: int) -> keras.Model:
    return models.build_text_classifier(
        vocab_size=vocab_size,
        num_classes=num_classes,
        max_length=config.max_length,
        position=config.position,
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        ff_dim=config.ff_dim,
        num_layers=config.num_layers,
        dropout=config.dropout,
        pooling=config.pooling,
        norm_first=config.norm_first,
        scale_embeddings=config.scale_embeddings,
        token_dropout=config.token_dropout,
    )


def load_data(config: TrainConfig) -> data_lib.TextData:
    return data_lib.load_dataset(
        config.dataset,
        validation_file=config.validation_file,
        test_file=config.test_file,
        text_column=config.text_column,
        label_column=config.label_column,
        encoding=config.encoding,
        data_dir=config.data_dir,
        download=config.download,
        seed=config.seed,
        order_train_size=config.order_train_size,
        max_words=config.max_words,
    )


def data_fingerprint(dataset: data_lib.TextData) -> str:
    """SHA-256 of every text, label and class name: the same data, the same value."""
    digest = hashlib.sha256()
    for split in (dataset.train, dataset.validation, dataset.test):
        for text in split.texts:
            digest.update(text.encode("utf-8") + b"\0")
        digest.update(split.labels.astype("int64").tobytes())
    digest.update("\0".join(dataset.class_names).encode("utf-8"))
    return digest.hexdigest()


def _differences(recorded: dict, wanted: dict) -> list[str]:
    keys = sorted(set(recorded) | set(wanted))
    return [key for key in keys if recorded.get(key) != wanted.get(key)]


def _refuse_other_run(run, names, recorded, wanted):
    changes = ", ".join(
        f"{name}: {recorded.get(name)!r} then, {wanted.get(name)!r} now" for name in names
    )
    return RunError(
        f"{run.directory} holds a run made with other settings ({changes}); a run resumes "
        "only with the settings it started with. Start afresh there with ",
        Setting("overwrite", True),
        " (its files are removed), or use another ",
        Setting("output_dir"),
        ".",
    )


def prepare_run(config: TrainConfig) -> Run:
    """The run directory, checked: same settings to resume, else afresh.

    Raises:
        RunError: when the directory holds a run with other settings (and
            `overwrite` is off), naming every setting that differs.
    """
    run = Run(config.resolved_output_dir())
    recorded = run.read_settings()
    wanted = config.settings_to_match()
    if recorded is not None and not config.overwrite:
        changed = _differences(recorded["settings"], wanted)
        if changed:
            raise _refuse_other_run(run, changed, recorded["settings"], wanted)
    elif run.backup_dir.exists() and not config.overwrite:
        raise RunError(
            f"{run.directory} holds checkpoints without recorded settings (from an older version?), so the run cannot be resumed safely. Start afresh with ",
            Setting("overwrite", True),
            " or use another ",
            Setting("output_dir"),
            ".",
        )
    if not run.backup_dir.exists() or config.overwrite:
        run.clear()  # Nothing to resume: the last run's logs would mix with this one's.
    try:
        run.directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(
            f"Cannot create the output directory {run.directory} ({error.strerror}); choose "
            "another ", Setting("output_dir"), ".",
        ) from None  # fmt: skip
    files.remove_stale_temporaries(run.directory)
    return run


def _record_settings(run, config, fingerprint):
    recorded = run.read_settings()
    if recorded is not None and recorded.get("data_fingerprint") not in (None, fingerprint):
        raise RunError(
            f"{run.directory} holds a run trained on other data (the data of ",
            Setting("dataset", config.dataset),
            " changed since it started); a run resumes "
            "only on the data it started with. Start afresh with ",
            Setting("overwrite", True),
            ", or use another ",
            Setting("output_dir"),
            ".",
        )
    run.write_settings({"settings": config.settings_to_match(), "data_fingerprint": fingerprint})


def train(config: TrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains, evaluates and writes the run directory; returns the metrics.

    Rerunning the same config into the same directory after a kill resumes
    from the last completed epoch; a config with other settings is refused.
    """
    config.validate()
    run = prepare_run(config)
    log = print if config.verbose else (lambda *args, **kwargs: None)
    with _process_settings(config):
        distribution = Distribution(config.strategy)
        policy, device = keras.config.dtype_policy().name, describe_devices()
        log(
            f"Training on {device} with {keras.backend.backend()}, "
            f"{distribution.replicas} replica(s), policy {policy}."
        )
        dataset = load_data(config)
        _record_settings(run, config, data_fingerprint(dataset))
        _warn_if_test_picks_the_epoch(config, log)
        with distribution.scope():
            session = _Session(config, run, dataset, distribution, log)
            session.fit(extra_callbacks)
            metrics = session.evaluate()
            session.save_outputs()
        metrics.update(policy=policy, device=device, replicas=distribution.replicas)
        run.write_metrics(metrics)  # Last: it marks the run complete.
    _remove_backup(run)
    _report(config, run, metrics, log)
    return metrics


def _warn_if_test_picks_the_epoch(config, log):
    files_given = config.validation_file and config.test_file
    if files_given and os.path.samefile(config.validation_file, config.test_file):
        log(
            "Warning: the validation file is the test file. It picks the best epoch, so the "
            "test accuracy is optimistic."
        )


class _Session:
    """One call of `train`: the data pipelines, the model and its checkpoints."""

    def __init__(self, config, run, dataset, distribution, log):
        self.config, self.run, self.dataset, self.log = config, run, dataset, log
        self.vectorizer = data_lib.make_vectorizer(dataset.train.texts, config.vocab_size)
        batch_size = config.batch_size * distribution.replicas
        multiple = distribution.batch_multiple
        self.held_out = {
            name: data_lib.make_pipeline(
                split, self.vectorizer, config.max_length, batch_size, multiple
            )
            for name, split in [("validation", dataset.validation), ("test", dataset.test)]
        }
        self.batches = data_lib.TrainingBatches(
            dataset.train, self.vectorizer, config.max_length, batch_size, config.seed, multiple
        )
        log(
            f"Data {dataset.name}: {len(dataset.train)} train, {len(dataset.validation)} "
            f"validation, {len(dataset.test)} test examples; {len(dataset.class_names)} classes; "
            f"vocabulary {self.vectorizer.vocabulary_size()}."
        )
        self.model = build_model(
            config, self.vectorizer.vocabulary_size(), len(dataset.class_names)
        )
        self.epochs = planned_epochs(config, self.batches.steps_per_epoch)
        schedule = learning_rate_schedule(config, self.batches.steps_per_epoch, self.epochs)
        self.model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
            # Divided by the sample weights' sum: rows that only pad a batch
            # for data parallelism (weight 0) do not dilute it.
            loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
            metrics=["accuracy"],
            # JAX runs op by op otherwise, many times slower: it always compiles.
            jit_compile=config.jit_compile or keras.backend.backend() == "jax",
        )
        # Built now, so that a checkpoint restores the optimizer's state too.
        self.model.optimizer.build(self.model.trainable_variables)
        self.checkpoints = EpochCheckpoints(
            run.backup_dir, config.patience, len(dataset.validation)
        )
        self.timer = EpochTimer()

    def fit(self, extra_callbacks):
        """Trains from the last checkpoint on; ends with the best epoch's weights."""
        config, run = self.config, self.run
        first_epoch = self.checkpoints.restore(self.model)
        if first_epoch:
            self.log(f"Resuming {run.directory} after epoch {first_epoch}.")
        if first_epoch < self.epochs and not self.checkpoints.finished:
            callbacks = [
                self.checkpoints,
                keras.callbacks.TensorBoard(str(run.logs_dir), write_graph=False),
                summaries.PositionSummaries(str(run.logs_dir), config.max_length, config.embed_dim),
                self.timer,
                *extra_callbacks,
            ]
            self.model.fit(
                self.batches.epochs(first_epoch, self.epochs),
                steps_per_epoch=self.batches.steps_per_epoch,
                epochs=self.epochs,
                initial_epoch=first_epoch,
                validation_data=self.held_out["validation"],
                callbacks=callbacks,
                verbose=config.verbose,
                shuffle=False,  # The pipeline shuffles each epoch, reproducibly.
            )
        self.checkpoints.restore_best(self.model)

    def evaluate(self) -> dict:
        config, dataset, state = self.config, self.dataset, self.checkpoints.state
        results = {
            name: self.model.evaluate(pipeline, verbose=0, return_dict=True)
            for name, pipeline in self.held_out.items()
        }
        seconds, epochs = self.timer.seconds, self.timer.epochs
        return {
            "dataset": dataset.name,
            "position": config.position,
            "backend": keras.backend.backend(),
            "class_names": dataset.class_names,
            "train_examples": len(dataset.train),
            "validation_examples": len(dataset.validation),
            "test_examples": len(dataset.test),
            "val_accuracy": results["validation"]["accuracy"],
            "test_accuracy": results["test"]["accuracy"],
            "test_loss": results["test"]["loss"],
            "epochs": self.epochs,
            "epochs_trained": state["epoch"],
            "epochs_this_run": epochs,
            "best_epoch": self.checkpoints.best_epoch,
            "stopped_early": state["stopped_early"],
            "validation_curve": [
                {key: entry[key] for key in ("epoch", "val_accuracy", "val_loss") if key in entry}
                for entry in state["history"]
            ],
            "train_seconds": seconds,
            "examples_per_second": len(dataset.train) * epochs / seconds if seconds else None,
            "seed": config.seed,
            "jit_compile": config.jit_compile,
            "config": dataclasses.asdict(config),
        }

    def save_outputs(self):
        """Every final file but metrics.json."""
        run, model = self.run, self.model
        run.save_model(model)
        run.write_vocabulary(self.vectorizer.get_vocabulary())
        run.write_classes(self.dataset.class_names)
        if keras.backend.backend() == "tensorflow":  # TextVectorization runs TensorFlow ops.
            run.save_text_model(serving.build_string_classifier(model, self.vectorizer))
        config = self.config
        tables = summaries.position_tables(model, config.max_length, config.embed_dim)
        summaries.write_projector(str(run.logs_dir), tables)
        if self.config.plots and viz.position_kind(model) != "none":
            viz.write_position_plots(model, run.directory, self.config.max_length)


def _remove_backup(run):
    shutil.rmtree(run.backup_dir, ignore_errors=True)


def _report(config, run, metrics, log):
    kept = ""
    if metrics["best_epoch"] is not None:
        stop = " (stopped early)" if metrics["stopped_early"] else ""
        kept = f"Kept epoch {metrics['best_epoch']} of {metrics['epochs_trained']}{stop}, the best on validation. "
    log(
        f"\n{kept}Test accuracy {metrics['test_accuracy']:.4f}, validation accuracy "
        f"{metrics['val_accuracy']:.4f}; {metrics['train_seconds']:.1f} s of training, "
        f"{metrics['examples_per_second'] or 0:.0f} examples/s."
    )
    if config.dataset == data_lib.BUILT_IN:
        log("\nSame words, opposite labels: what the model says.")
        for line in predict.format_predictions(predict.predict_run(run, EXAMPLE_SENTENCES)):
            log(line)
    written = ", ".join(path.name + ("/" if path.is_dir() else "") for path in run.outputs())
    log(
        f"\nWrote {run.directory}/: {written}.\nSee training in TensorBoard: tensorboard --logdir {run.logs_dir}"
    )


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent in the epochs this process ran (evaluation included)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds, self.epochs = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1
