import dataclasses
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from reference import run_python
from tensorboard.plugins import projector

from keras_posemb import data, io, training

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(order_train_size=320, epochs=2, batch_size=32, max_length=32, embed_dim=16, num_heads=2, ff_dim=32, num_layers=1, verbose=0)


def tiny_config(tmp_path, **changes):
    return training.TrainConfig(**{**TINY, "output_dir": str(tmp_path), **changes})


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learned_run")
    config = tiny_config(out, position="learned")
    return config, training.train(config), out


def tags_in(directory):
    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_run_writes_all_outputs(learned_run):
    config, metrics, out = learned_run
    for name in ("model.keras", "vocabulary.txt", "metrics.json", "position_heatmaps.png", "position_similarity.png", "position_pca.png", "position_offset_similarity.png", "position_spectrum.png"):
        assert (out / name).exists(), name
    for name in ("position_heatmaps.png", "position_similarity.png", "position_pca.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("dataset", "position", "train_examples", "test_accuracy", "val_accuracy", "epochs", "train_seconds", "examples_per_second", "seed"):
        assert key in saved, key
    assert saved["dataset"] == "order" and saved["position"] == "learned" and saved["train_examples"] == 320
    assert saved["epochs"] == 2 and saved["examples_per_second"] > 0
    assert not (out / "backup").exists()  # Removed once training completes.


def test_saved_model_and_vocabulary_reproduce_the_test_accuracy(learned_run):
    config, metrics, out = learned_run
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    vocabulary = (out / "vocabulary.txt").read_text().splitlines()
    vectorizer = keras.layers.TextVectorization(vocabulary=vocabulary[2:])  # Without padding and OOV.
    test = training.load_data(config).test
    probabilities = model.predict(vectorizer(tf.constant(test.texts)), verbose=0)
    accuracy = np.mean(np.argmax(probabilities, axis=1) == test.labels)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_tensorboard_scalars_histograms_and_images(learned_run):
    _, _, out = learned_run
    logs = out / "logs"
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags_in(logs / "train")
    assert {"epoch_loss", "epoch_accuracy"} <= tags_in(logs / "validation")
    assert {
        "position_table/learned",
        "position_table/sinusoidal",
        "position_similarity/learned",
        "position_similarity/sinusoidal",
    } <= tags_in(logs / "positions")


def test_projector_config_points_at_tables_of_the_right_shape(learned_run):
    config, _, out = learned_run
    logs = out / "logs"
    parsed = text_format.Parse((logs / "projector_config.pbtxt").read_text(), projector.ProjectorConfig())
    assert {e.tensor_name for e in parsed.embeddings} == {"learned position table", "sinusoidal position table"}
    model = keras.saving.load_model(out / "model.keras")
    for embedding in parsed.embeddings:
        table = np.loadtxt(logs / embedding.tensor_path, delimiter="\t", ndmin=2)
        assert table.shape == tuple(embedding.tensor_shape) == (config.max_length, config.embed_dim)
        labels = (logs / embedding.metadata_path).read_text().splitlines()
        assert labels == [f"position {i}" for i in range(config.max_length)]
        if embedding.tensor_name.startswith("learned"):
            np.testing.assert_allclose(table, model.get_layer("position_encoding").get_weights()[0], rtol=1e-5, atol=1e-6)


def test_same_seed_same_metrics(learned_run, tmp_path):
    config, metrics, _ = learned_run
    again = training.train(dataclasses.replace(config, output_dir=str(tmp_path)))
    for key in ("test_accuracy", "val_accuracy", "test_loss"):
        assert again[key] == metrics[key]


class StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def test_interrupted_run_resumes_and_ends_with_the_same_epochs(tmp_path):
    config = tiny_config(tmp_path, epochs=3, position="sinusoidal", plots=False)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[StopAfterEpoch(1)])
    assert (tmp_path / "backup").exists() and not (tmp_path / "model.keras").exists()
    metrics = training.train(config)
    assert metrics["epochs"] == 3 and metrics["epochs_this_run"] == 1
    assert not (tmp_path / "backup").exists()
    train = training.load_data(config).train
    vectorizer = data.make_vectorizer(train.texts, config.vocab_size)
    steps_per_epoch = int(data.make_pipeline(train, vectorizer, config.max_length, config.batch_size).cardinality())
    steps = keras.saving.load_model(tmp_path / "model.keras").optimizer.iterations.numpy()
    assert steps == 3 * steps_per_epoch  # Three epochs in all, not 1 + 3.


def test_mixed_precision_and_jit_compile(tmp_path):
    metrics = training.train(tiny_config(tmp_path, position="sinusoidal", mixed_precision=True, jit_compile=True, epochs=1, plots=False))
    keras.config.set_dtype_policy("float32")
    assert metrics["policy"] == "mixed_bfloat16" and metrics["jit_compile"] is True
    assert np.isfinite(metrics["test_loss"])


def test_atomic_save_keeps_the_old_file_when_saving_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")

    class Failing:
        def save(self, path):
            Path(path).write_bytes(b"partial")
            raise OSError("disk full")

    with pytest.raises(OSError):
        io.atomic_save_model(Failing(), str(target))
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.keras"]


# The command line.


def demo(*args, env=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "demos" / "train_text_classifier.py"), *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}, timeout=600,
    )


def test_help_explains_every_flag_with_its_default():
    result = demo("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in ("--dataset", "--validation-file", "--test-file", "--data-dir", "--download", "--position", "--output-dir",
                 "--epochs", "--batch-size", "--max-length", "--seed", "--mixed-precision", "--jit-compile", "--strategy",
                 "--learning-rate", "--warmup-fraction"):
        assert flag in text, flag
    assert "(default: order)" in text and "(default: sinusoidal)" in text and "(default: 10)" in text


def test_bad_data_exits_with_the_reason(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext\n1\tfine\n0\n")
    result = demo("--dataset", str(bad), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "bad.tsv, line 3: expected 2 fields" in result.stderr


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    run_python(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import sys
        sys.path.insert(0, {str(ROOT / "demos")!r})
        import train_text_classifier
        train_text_classifier.main([
            "--strategy", "mirrored", "--output-dir", {str(tmp_path)!r}, "--order-train-size", "256",
            "--epochs", "1", "--embed-dim", "16", "--num-heads", "2", "--num-layers", "1", "--verbose", "0", "--no-plots",
        ])
        """,
        cwd=tmp_path,
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["replicas"] == 2
