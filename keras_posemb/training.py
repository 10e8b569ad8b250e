"""Trains the text classifier and writes everything a run leaves behind.

`train(TrainConfig(...))` is what `demos/train_text_classifier.py` runs. The
output directory gets `model.keras`, `vocabulary.txt`, `metrics.json`,
TensorBoard logs under `logs/`, PNG plots of the position vectors and, while
training, a `backup/` that lets the same command resume after a kill.
"""

import dataclasses
import os
import time

import keras
import tensorflow as tf

from keras_posemb import data as data_lib
from keras_posemb import io, models, viz
from keras_posemb.tensorboard import PositionSummaries


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run; the demo's flags map onto these."""

    dataset: str = "order"
    validation_file: str = None
    test_file: str = None
    text_column: str = None
    label_column: str = None
    data_dir: str = None
    download: bool = False
    max_words: int = 24
    order_train_size: int = 16000
    position: str = "sinusoidal"
    output_dir: str = None
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 64
    vocab_size: int = 20000
    embed_dim: int = 64
    num_heads: int = 4
    ff_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    pooling: str = "mean"
    norm_first: bool = True
    scale_embeddings: bool = True
    seed: int = 0
    mixed_precision: bool = False
    jit_compile: bool = False
    strategy: str = "default"
    plots: bool = True
    verbose: int = 1

    def resolved_output_dir(self):
        name = os.path.splitext(os.path.basename(self.dataset.rstrip("/")))[0].replace("/", "_")
        return self.output_dir or os.path.join("runs", f"{name}_{self.position}")


def describe_devices():
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(d)["device_name"] for d in tf.config.list_physical_devices("GPU")]
        return f"{len(gpus)} GPU(s): {', '.join(names)}"
    return f"CPU ({os.cpu_count()} cores)"


def make_strategy(name):
    """The `tf.distribute` strategy for `--strategy`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name != "mirrored":
        raise ValueError(f"Argument `strategy` must be 'default' or 'mirrored'; received strategy={name!r}.")
    devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    # Without GPUs, mirror over the logical CPUs (tests split the CPU in two).
    return tf.distribute.MirroredStrategy(devices or [d.name for d in tf.config.list_logical_devices("CPU")])


def precision_policy(mixed_precision):
    """float16 where GPUs do it fast, bfloat16 on CPUs, else float32."""
    if not mixed_precision:
        return "float32"
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def learning_rate_schedule(config, steps_per_epoch):
    """Linear warmup to `learning_rate`, then cosine decay to zero."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(total * config.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def build_model(config, vocab_size, num_classes):
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
    )


def load_data(config):
    if config.dataset == "order":
        held_out = max(2, config.order_train_size // 16 * 2)
        return data_lib.order_dataset(
            config.order_train_size, held_out, held_out, max_words=config.max_words, seed=config.seed
        )
    return data_lib.load_dataset(
        config.dataset,
        validation_file=config.validation_file,
        test_file=config.test_file,
        text_column=config.text_column,
        label_column=config.label_column,
        data_dir=config.data_dir,
        download=config.download,
        seed=config.seed,
    )


def train(config, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics dictionary."""
    out = config.resolved_output_dir()
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    if not config.jit_compile:  # Same seed, same metrics (XLA is deterministic on CPU).
        tf.config.experimental.enable_op_determinism()
    policy = precision_policy(config.mixed_precision)
    keras.config.set_dtype_policy(policy)
    strategy = make_strategy(config.strategy)
    device = describe_devices()
    log = print if config.verbose else (lambda *args: None)
    log(f"Training on {device}, {strategy.num_replicas_in_sync} replica(s), policy {policy}.")

    dataset = load_data(config)
    vectorizer = data_lib.make_vectorizer(dataset.train.texts, config.vocab_size)
    batch_size = config.batch_size * strategy.num_replicas_in_sync
    pipelines = {
        "train": data_lib.make_pipeline(dataset.train, vectorizer, config.max_length, batch_size, shuffle_seed=config.seed),
        "validation": data_lib.make_pipeline(dataset.validation, vectorizer, config.max_length, batch_size),
        "test": data_lib.make_pipeline(dataset.test, vectorizer, config.max_length, batch_size),
    }
    log(
        f"Data {dataset.name}: {len(dataset.train)} train, {len(dataset.validation)} validation, "
        f"{len(dataset.test)} test examples; {len(dataset.class_names)} classes; "
        f"vocabulary {vectorizer.vocabulary_size()}."
    )
    with strategy.scope():
        model = build_model(config, vectorizer.vocabulary_size(), len(dataset.class_names))
        schedule = learning_rate_schedule(config, int(pipelines["train"].cardinality()))
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=config.jit_compile,
        )
    log_dir = os.path.join(out, "logs")
    timer = EpochTimer()
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(out, "backup")),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir),
        PositionSummaries(log_dir, config.max_length, config.embed_dim),
        timer,
        *extra_callbacks,
    ]
    model.fit(
        pipelines["train"],
        validation_data=pipelines["validation"],
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=config.verbose,
    )
    if model.stop_training:  # TerminateOnNaN.
        raise RuntimeError("Training stopped: the loss became NaN. Try a lower --learning-rate.")
    evaluation = {split: model.evaluate(pipelines[split], verbose=0, return_dict=True) for split in ("validation", "test")}
    examples_seen = len(dataset.train) * timer.epochs
    metrics = {
        "dataset": dataset.name,
        "position": config.position,
        "train_examples": len(dataset.train),
        "validation_examples": len(dataset.validation),
        "test_examples": len(dataset.test),
        "val_accuracy": evaluation["validation"]["accuracy"],
        "test_accuracy": evaluation["test"]["accuracy"],
        "test_loss": evaluation["test"]["loss"],
        "epochs": config.epochs,
        "epochs_this_run": timer.epochs,
        "train_seconds": timer.seconds,
        "examples_per_second": examples_seen / timer.seconds if timer.seconds else None,
        "seed": config.seed,
        "device": device,
        "replicas": strategy.num_replicas_in_sync,
        "policy": policy,
        "jit_compile": config.jit_compile,
        "config": dataclasses.asdict(config),
    }
    io.atomic_save_model(model, os.path.join(out, "model.keras"))
    io.atomic_write_text(os.path.join(out, "vocabulary.txt"), "".join(f"{token}\n" for token in vectorizer.get_vocabulary()))
    wrote = "model.keras, vocabulary.txt, metrics.json, logs/"
    if config.plots and config.position != "none":
        viz.write_position_plots(model, out, config.max_length)
        wrote += ", plots"
    io.atomic_write_json(os.path.join(out, "metrics.json"), metrics)
    log(
        f"\nTest accuracy {metrics['test_accuracy']:.4f}, validation accuracy {metrics['val_accuracy']:.4f}; "
        f"{timer.seconds:.1f} s of training, {metrics['examples_per_second'] or 0:.0f} examples/s.\n"
        f"Wrote {out}/: {wrote}.\n"
        f"See training in TensorBoard: tensorboard --logdir {log_dir}"
    )
    return metrics


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent in the epochs this process ran (evaluation included)."""

    def __init__(self):
        super().__init__()
        self.seconds, self.epochs = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1
