"""The built-in shapes, tensorflow-datasets images (mocked, offline), and the
image trainer with its run directory."""

import dataclasses
import json
import signal

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from helpers import run_main
from test_training import SignalDuringStep, StopAfterEpoch

from keras_posemb.cli import train_images as train_images_cli
from keras_posemb.data import images
from keras_posemb.data import tfds as tfds_module
from keras_posemb.errors import DataError, RunError
from keras_posemb.runs.run import Run
from keras_posemb.training.images import ImageTrainConfig, make_optimizer, train_images

TINY = dict(
    patch_size=8, embed_dim=16, num_heads=2, ff_dim=16, num_layers=1, epochs=2, batch_size=256,
    verbose=0,
)  # fmt: skip


def tiny_config(tmp_path, name="run", **changes):
    return ImageTrainConfig(**{**TINY, "output_dir": str(tmp_path / name), **changes})


def patches(image, size):
    """The multiset of an image's patches, as sorted byte strings."""
    side = image.shape[0] // size
    grid = image[..., 0].reshape(side, size, side, size).transpose(0, 2, 1, 3)
    return sorted(patch.tobytes() for patch in grid.reshape(-1, size, size))


@pytest.mark.parametrize("task, axis", [("left", 2), ("above", 1)])
def test_each_image_has_its_mirror_image_with_the_other_label(task, axis):
    split = images.shapes_split(30, seed=1, task=task)
    assert split.images.shape == (60, 32, 32, 1) and split.images.dtype == np.float32
    np.testing.assert_array_equal(split.images[1::2], np.flip(split.images[0::2], axis=axis))
    np.testing.assert_array_equal(split.labels[1::2], 1 - split.labels[0::2])
    assert 0.3 < split.labels.mean() < 0.7 and split.images.max() <= 1
    for size in (2, 4, 8):  # The same bag of patches: only positions tell them apart.
        for first, second in zip(split.images[0::2], split.images[1::2]):
            assert patches(first, size) == patches(second, size)
        assert patches(split.images[0], 4) != patches(split.images[2], 4)


def test_the_label_says_where_the_square_is():
    """The square is the shape whose bounding box is full."""
    split = images.shapes_split(20, seed=2)
    for image, label in zip(split.images[..., 0], split.labels):
        columns = {}
        for value in np.unique(image[image > 0]):
            rows, cols = np.nonzero(image == value)
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            columns["square" if box == len(rows) else "cross"] = cols.mean()
        if len(columns) == 2:  # Two shapes of the same intensity are skipped.
            assert label == int(columns["square"] < columns["cross"])


def test_built_in_data_is_seeded_and_checked():
    first, again, other = (images.shapes_data(seed, scale=0.02) for seed in (0, 0, 1))
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    assert (len(first.train), len(first.validation), len(first.test)) == (80, 10, 20)
    with pytest.raises(ValueError, match=r"`image_size` must be a multiple of 8.*image_size=20"):
        images.shapes_data(image_size=20)
    with pytest.raises(
        ValueError, match=r"`task` must be one of \('left', 'above'\); received task='below'"
    ):
        images.shapes_data(task="below")


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tensorflow_datasets_images_offline(name, shape, monkeypatch):
    monkeypatch.setattr(tfds_module, "check_network", lambda: None)
    with tfds.testing.mock_data(num_examples=20):
        data = images.tfds_images(name, download=True)
    assert data.train.images.shape[1:] == shape and len(data.test) == 20
    assert (len(data.train), len(data.validation)) == (18, 2)
    assert data.train.images.dtype == np.float32 and 0 <= data.train.images.min() <= 1
    assert len(data.class_names) == 10
    with pytest.raises(DataError, match=r"'mnist' is not prepared.*download=True"):
        images.tfds_images("mnist", data_dir=str(monkeypatch))  # Nothing prepared there.


@pytest.mark.all_backends
def test_trains_and_writes_its_run(tmp_path):
    metrics = train_images(tiny_config(tmp_path, position="rotary_2d"))
    run = Run(tmp_path / "run")
    assert run.is_complete() and run.read_classes() == list(images.CLASS_NAMES["left"])
    assert metrics["grid_size"] == [4, 4] and len(metrics["validation_curve"]) == 2
    assert [twin["label"] for twin in metrics["twin_pair"]] == [
        images.CLASS_NAMES["left"][label] for label in images.shapes_data(0).test.labels[:2]
    ]
    model = keras.saving.load_model(run.path("model.keras"), safe_mode=True)
    test = images.shapes_data(0).test
    accuracy = np.mean(np.argmax(model.predict(test.images, verbose=0), 1) == test.labels)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-3)


def test_without_positions_the_twins_get_the_same_answer(tmp_path):
    metrics = train_images(tiny_config(tmp_path, position="none", epochs=1))
    assert metrics["test_accuracy"] == 0.5
    first, second = (twin["predicted"] for twin in metrics["twin_pair"])
    assert first["class"] == second["class"]
    assert first["probability"] == pytest.approx(second["probability"], abs=1e-5)


@pytest.mark.parametrize("stop", ["after an epoch", "SIGTERM within one"])
def test_a_stopped_run_resumes_to_what_an_uninterrupted_one_gives(tmp_path, stop):
    config = tiny_config(tmp_path, "killed", position="learned_2d", batch_size=128)
    with pytest.raises(KeyboardInterrupt):
        if stop == "after an epoch":
            train_images(config, extra_callbacks=[StopAfterEpoch(0)])
        else:
            train_images(config, extra_callbacks=[SignalDuringStep(5, signal.SIGTERM, epoch=0)])
    resumed = train_images(config)
    whole = train_images(dataclasses.replace(config, output_dir=str(tmp_path / "whole")))
    for key in ("test_accuracy", "val_accuracy", "validation_curve"):
        assert resumed[key] == whole[key], key
    assert train_images(config) == Run(config.output_dir).read_metrics()  # Finished: kept.
    with pytest.raises(RunError, match="other settings.*position"):
        train_images(dataclasses.replace(config, position="sinusoidal_2d"))


@pytest.mark.parametrize(
    "change, match",
    [
        (
            dict(patch_size=5),
            r"`patch_size` must be a divisor of the 32-pixel images of shapes; received patch_size=5",
        ),
        (
            dict(position="rotary_2d", embed_dim=12, num_heads=2),
            r"multiple of 4 features per head.*num_heads=2",
        ),
        (dict(dataset="imagenet"), r"`dataset` must be one of \('shapes', 'mnist', 'cifar10'\)"),
        (
            dict(data_dir="../images"),
            r"`data_dir` must be left out here: it applies only with a tensorflow-datasets set",
        ),
        (dict(download=True), r"`download` must be left out here"),
        (
            dict(dataset="mnist", task="above"),
            r"`task` must be left out here: it applies only with dataset='shapes'",
        ),
        (dict(position="nope"), r"position='nope'"),
    ],
)
def test_bad_settings_are_refused_before_data_is_read(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        train_images(tiny_config(tmp_path, **change))
    assert not (tmp_path / "run").exists()


def test_the_command_line(tmp_path, capsys):
    flags = ["--patch-size", "8", "--embed-dim", "16", "--num-heads", "2", "--ff-dim", "16"]
    flags += ["--num-layers", "1", "--epochs", "1", "--batch-size", "256", "--verbose", "2"]
    status, out, err = run_main(
        train_images_cli.main, [*flags, "--output-dir", str(tmp_path / "cli")], capsys
    )
    assert status == 0, err
    assert "mirror image: 'square" in out and "Test accuracy:" in out
    assert "Data set 'shapes' (task 'left'): 4,000 training" in out and "Epoch 1/1" in out
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["position"] == "learned_2d"
    assert metrics["best_epoch"] == 1 and "Kept epoch 1," in out  # The only epoch.
    status, out, err = run_main(train_images_cli.main, ["--patch-size", "5"], capsys)
    assert status == 2 and "--patch-size 5" in err


@pytest.mark.parametrize("position", ["learned_2d", "rotary_mixed"])
def test_plots_and_tensorboard_images_of_the_grid(tmp_path, position):
    from test_training import event_tags

    train_images(tiny_config(tmp_path, position=position, epochs=1))
    run = Run(tmp_path / "run")
    name = "grid_rotary" if position.startswith("rotary") else "grid_similarity"
    assert run.plot_path(name).exists() and run.plot_path(name) in run.outputs()
    tag = "rotary_frequencies" if position.startswith("rotary") else "position_similarity"
    assert f"{tag}/{position}" in event_tags(run.logs_dir / "positions")


def test_the_optimizer_decays_matrices_only_and_peaks_at_the_learning_rate():
    config = ImageTrainConfig(learning_rate=2e-3)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.LayerNormalization()]
    )
    optimizer = make_optimizer(config, model, steps=100)
    optimizer.build(model.trainable_variables)
    for variable in model.trainable_variables:
        assert optimizer._use_weight_decay(variable) == (len(variable.shape) >= 2), variable.path
    schedule = optimizer._learning_rate
    assert max(float(schedule(step)) for step in range(100)) == pytest.approx(2e-3, rel=1e-5)
