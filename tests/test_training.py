import dataclasses
import json
import os
import re
import signal

import keras
import numpy as np
import pytest
from helpers import TINY, run_python, tiny_config

from keras_posemb import data, training
from keras_posemb.analysis.plots import plot_file_name
from keras_posemb.errors import ArgumentError, RunError, TrainingError
from keras_posemb.runs import checkpoints
from keras_posemb.runs.checkpoints import EpochCheckpoints, InterruptBetweenSteps, PlateauPatience
from keras_posemb.runs.run import Run


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learned_run")
    config = tiny_config(out, position="learned")
    return config, training.train(config), Run(out)


@pytest.mark.all_backends
def test_run_writes_every_output(learned_run):
    config, metrics, run = learned_run
    # TensorFlow's op determinism, on while it trained on a CPU, is off again.
    assert not op_determinism_enabled()
    names = [Run.MODEL, Run.VOCABULARY, Run.CLASSES, Run.SETTINGS, Run.METRICS]
    names.append(Run.TRAINING_CURVES)
    # The raw-text model runs TextVectorization: TensorFlow only.
    assert run.path(Run.TEXT_MODEL).exists() == (keras.backend.backend() == "tensorflow")
    table_plots = ["heatmaps", "similarity", "offset_similarity", "pca", "spectrum"]
    for name in [*names, *(plot_file_name(kind) for kind in table_plots)]:
        assert run.path(name).exists(), name
    for kind in table_plots:
        assert run.plot_path(kind).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not run.plot_path("bias_by_offset").exists()  # Only for ALiBi and T5.
    saved = run.read_metrics()
    assert saved["backend"] == keras.backend.backend()
    assert saved["dataset"] == "order" and saved["position"] == "learned"
    assert saved["train_examples"] == 320 and saved["epochs"] == 2
    assert saved["examples_per_second"] > 0 and saved["class_names"] == run.read_classes()
    assert not run.backup_dir.exists() and run.is_complete()  # Removed once all is written.
    assert not [p for p in os.listdir(run.directory) if p.startswith(".tmp-")]


@pytest.mark.all_backends
def test_saved_model_and_vocabulary_reproduce_the_test_accuracy(learned_run):
    config, metrics, run = learned_run
    test = training.load_data(config).test
    ids = np.asarray(run.vectorizer()(test.texts))
    probabilities = keras.ops.convert_to_numpy(run.load_model().predict(ids, verbose=0))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == test.labels)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@pytest.mark.backends("tensorflow")
def test_text_model_takes_raw_strings_in_a_fresh_process(learned_run):
    config, _, run = learned_run
    texts = training.load_data(config).test.texts[:8] + ["the zebra chased the unicorn"]
    ids = np.asarray(run.vectorizer()(texts))
    want = run.load_model().predict(ids, verbose=0)
    np.save(run.directory / "want.npy", want)
    run_python(
        f"""
        import numpy as np, keras, keras_posemb
        model = keras.saving.load_model({str(run.path(Run.TEXT_MODEL))!r}, safe_mode=True)
        got = model.predict(np.array({texts!r}, dtype=object), verbose=0)
        np.testing.assert_allclose(got, np.load("want.npy"), atol=1e-6)
        """,
        cwd=run.directory,
    )


@pytest.mark.all_backends
def test_tensorboard_logs_on_every_backend(learned_run):
    _, _, run = learned_run
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= event_tags(
        run.logs_dir / "train"
    )
    positions = event_tags(run.logs_dir / "positions")
    assert {"position_table/learned", "position_similarity/learned"} <= positions
    assert (run.logs_dir / "positions" / "projector_config.pbtxt").exists()


@pytest.mark.all_backends
def test_best_epoch_is_the_first_with_the_highest_validation_accuracy(learned_run):
    _, metrics, run = learned_run
    curve = [entry["val_accuracy"] for entry in metrics["validation_curve"]]
    assert len(curve) == metrics["epochs_trained"] == 2
    assert metrics["best_epoch"] == 1 + int(np.argmax(curve))  # argmax takes the first.
    assert metrics["val_accuracy"] == pytest.approx(max(curve), abs=1e-6)


def test_same_seed_same_metrics_in_two_processes(tmp_path, learned_run):
    """The command line in a fresh process gives the metrics of the module's
    run in this one (its plots come after training, and change nothing)."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    flags += ["--no-plots", "--position=learned", f"--output-dir={tmp_path / 'b'}"]
    code = """
        import json, sys
        from keras_posemb.cli.train import main
        main(sys.argv[1:])
    """
    run_python(code, cwd=tmp_path, args=flags)
    a, b = learned_run[1], Run(tmp_path / "b").read_metrics()
    for key in ("test_accuracy", "val_accuracy", "test_loss", "validation_curve"):
        assert a[key] == b[key], key


class StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def weights_of(run):
    return run.load_model().get_weights()


def assert_same_results(resumed, whole, exact):
    """Equal metrics; where a backend is not bit-exact after a restore, the
    test loss to round-off (an accuracy can flip at a near-tie there)."""
    if exact:
        for key in ("test_accuracy", "val_accuracy", "test_loss"):
            assert resumed[key] == whole[key], key
    else:
        assert resumed["test_loss"] == pytest.approx(whole["test_loss"], abs=1e-3)


@pytest.mark.all_backends
def test_an_interrupted_run_resumes_to_what_an_uninterrupted_one_gives(tmp_path):
    """Exactly on TensorFlow and JAX; on PyTorch to float32 round-off (its
    CPU kernels do not give bit-equal results after a restore)."""
    exact = keras.backend.backend() != "torch"
    config = tiny_config(tmp_path / "killed", epochs=3, patience=0, plots=False)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[StopAfterEpoch(1)])
    run = Run(config.output_dir)
    assert run.backup_dir.exists() and not run.path(Run.MODEL).exists()
    resumed = training.train(config)
    assert resumed["epochs_trained"] == 3 and resumed["epochs_this_run"] == 1
    assert not run.backup_dir.exists()
    whole = training.train(dataclasses.replace(config, output_dir=str(tmp_path / "whole")))
    assert resumed["best_epoch"] == whole["best_epoch"]
    assert_same_results(resumed, whole, exact)
    for got, want in zip(weights_of(run), weights_of(Run(tmp_path / "whole"))):
        np.testing.assert_allclose(got, want, rtol=0 if exact else 1e-3, atol=0 if exact else 1e-4)
    # The saved optimizer is the best epoch's: its steps count every epoch
    # up to that one once, the resumed ones included.
    steps = run.load_model().optimizer.iterations.numpy()
    batches = data.TrainingBatches(training.load_data(config).train, run.vectorizer(), 32, 32, 0)
    assert steps == resumed["best_epoch"] * batches.steps_per_epoch


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_a_step_is_raised_after_it(signum):
    previous = signal.getsignal(signum)
    with InterruptBetweenSteps() as interrupt:
        os.kill(os.getpid(), signum)  # Recorded, not raised here.
        assert interrupt.pending == signum
        with pytest.raises(checkpoints.Interrupted) as raised:
            interrupt.on_train_batch_end(0)
        assert raised.value.signum == signum
        with pytest.raises(KeyboardInterrupt):  # A second signal: at once.
            os.kill(os.getpid(), signum)
            signal.sigtimedwait([], 0.1)  # Lets the handler run.
    assert signal.getsignal(signum) is previous


class SignalDuringStep(keras.callbacks.Callback):
    """Sends this process `signum` as step `batch` of epoch `epoch` starts."""

    def __init__(self, batch, signum=signal.SIGINT, epoch=1):
        super().__init__()
        self.batch, self.signum, self.at_epoch = batch, signum, epoch
        self.epoch, self.last_step_ended = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.last_step_ended = (self.epoch, batch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == self.at_epoch and batch == self.batch:
            os.kill(os.getpid(), self.signum)


def last_epoch_training_metrics(printed: str) -> str:
    """The training loss and accuracy Keras' progress line printed last."""
    return re.findall(r" - (accuracy: \S+ - loss: \S+)", printed)[-1]


@pytest.mark.all_backends
def test_a_signal_during_training_saves_the_epoch_so_far_and_the_run_resumes_there(
    tmp_path, capsys
):
    """SIGTERM (Ctrl-C's SIGINT is handled alike: the test above) ends
    training after the step in progress; the rerun trains the rest of that
    epoch and ends as an uninterrupted run does (exactly on TensorFlow and
    JAX, to round-off on PyTorch)."""
    exact = keras.backend.backend() != "torch"
    config = tiny_config(tmp_path / "stopped", epochs=2, patience=0, plots=False, verbose=2)
    stop = SignalDuringStep(batch=2, signum=signal.SIGTERM)
    with pytest.raises(checkpoints.Interrupted) as raised:
        training.train(config, extra_callbacks=[stop])
    assert raised.value.signum == signal.SIGTERM and raised.value.step == 3
    assert stop.last_step_ended == (1, 2)  # The step it arrived in was finished.
    state = json.loads((Run(config.output_dir).backup_dir / checkpoints.STATE).read_text())
    assert state["epoch"] == 1 and state["partial"]["step"] == 3  # Epoch 2, 3 steps in.
    capsys.readouterr()
    resumed = training.train(config)
    out = capsys.readouterr().out
    assert "after step 3 of epoch 2" in out and "Epoch 2/2 (from step 4 of " in out
    whole = training.train(dataclasses.replace(config, output_dir=str(tmp_path / "whole")))
    assert resumed["validation_curve"] == whole["validation_curve"] or not exact
    # The resumed epoch's training metrics count its first steps too.
    assert (
        last_epoch_training_metrics(out) == last_epoch_training_metrics(capsys.readouterr().out)
        or not exact
    )
    assert_same_results(resumed, whole, exact)
    # The seconds of both processes add up: the first trained more than a step.
    assert resumed["train_seconds"] > state["train_seconds"] + state["partial"]["seconds"] > 0
    assert resumed["examples_per_second"] > 0


def test_the_learning_rate_defaults_by_data_set_and_peaks_in_the_schedule():
    built_in, local = training.TrainConfig(), training.TrainConfig(dataset="reviews.tsv")
    assert (built_in.resolved_learning_rate(), local.resolved_learning_rate()) == (3e-3, 1e-3)
    chosen = training.TrainConfig(learning_rate=5e-4)
    assert chosen.resolved_learning_rate() == 5e-4
    steps_per_epoch, epochs = 100, 10  # Warmup: the first 10% of the 1,000 steps.
    for config in (built_in, local, chosen):
        schedule = training.learning_rate_schedule(config, steps_per_epoch, epochs)
        peak = max(float(schedule(step)) for step in range(0, 1000, 10))
        assert peak == pytest.approx(config.resolved_learning_rate(), rel=1e-5)


@pytest.mark.parametrize("warmup, final", [(0, 0.0), (30, 0.0), (30, 1e-4)])
def test_warmup_cosine_follows_its_formula(warmup, final):
    """Every trainer's schedule against the float64 formula: linear from 0
    to the peak, then peak's cosine half-wave down to `final`."""
    from keras_posemb.training.schedule import warmup_cosine

    peak, total = 1e-3, 200
    schedule = warmup_cosine(peak, total, warmup, final)
    for step in (0, 10, 29, 30, 31, 100, 150, 199, 200):
        if step < warmup:
            want = peak * step / warmup
        else:
            progress = (step - warmup) / (total - warmup)
            want = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * progress))
        assert float(schedule(step)) == pytest.approx(want, rel=1e-5, abs=1e-10), step


def test_patience_counts_from_the_first_improvement(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.optimizer.build(model.trainable_variables)
    # 400 validation examples: one standard error at 0.5 is 0.025.
    checkpoints = EpochCheckpoints(tmp_path)
    patience = PlateauPatience(checkpoints, patience=2, validation_size=400)
    for callback in (checkpoints, patience):
        callback.set_model(model)
        callback.set_params({"epochs": 10})
    # A plateau (epochs 1-3, a gain of 0.02 is noise: no stop), a real gain
    # in epoch 4, a tie (the earlier epoch stays best), a loss: stop at 6.
    stopped = []
    for epoch, accuracy in enumerate([0.5, 0.52, 0.51, 0.6, 0.6, 0.55]):
        model.stop_training = False
        for callback in (checkpoints, patience):
            callback.on_epoch_end(epoch, {"loss": 1.0, "val_accuracy": accuracy})
        stopped.append(model.stop_training)
    assert stopped == [False] * 5 + [True]
    assert checkpoints.best_epoch == 4 and patience.should_stop(10)
    # A resumed run decides from the restored curve alone.
    resumed = EpochCheckpoints(tmp_path)
    resumed.restore(model)
    assert PlateauPatience(resumed, 2, 400).should_stop(10)
    assert not PlateauPatience(resumed, 3, 400).should_stop(10)
    assert not PlateauPatience(resumed, 2, 400).should_stop(6)  # Planned epochs all done.


def test_a_run_that_never_learns_is_not_stopped_early_and_keeps_epoch_one(tmp_path):
    # Without position information the order set stays at chance.
    metrics = training.train(tiny_config(tmp_path, position="none", epochs=3, patience=1))
    assert not metrics["stopped_early"] and metrics["epochs_trained"] == 3
    curve = metrics["validation_curve"]
    best = metrics["best_epoch"]
    assert curve[best - 1]["val_accuracy"] == max(entry["val_accuracy"] for entry in curve)
    assert metrics["val_accuracy"] == pytest.approx(curve[best - 1]["val_accuracy"], abs=1e-6)


def test_a_resumed_run_still_ends_with_the_best_epoch(tmp_path):
    config = tiny_config(tmp_path, position="none", epochs=4, patience=0, plots=False)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[StopAfterEpoch(2)])
    resumed = training.train(config)
    curve = [entry["val_loss"] for entry in resumed["validation_curve"]]
    accuracies = [entry["val_accuracy"] for entry in resumed["validation_curve"]]
    best = resumed["best_epoch"]
    assert best == 1 + int(np.argmax(accuracies)) and len(curve) == 4
    validation = training.load_data(config).validation
    pipeline = data.make_pipeline(validation, Run(tmp_path).vectorizer(), 32, 32)
    loss = Run(tmp_path).load_model().evaluate(pipeline, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(curve[best - 1], rel=1e-5)


class PoisonWeights(keras.callbacks.Callback):
    """Makes the classifier's weights NaN in the middle of the second epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            layer = self.model.get_layer("classifier")
            layer.set_weights([np.full_like(w, np.nan) for w in layer.get_weights()])


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(tmp_path, epochs=3, plots=False)
    with pytest.raises(TrainingError, match=r"loss became nan in epoch 2.*`learning_rate`"):
        training.train(config, extra_callbacks=[PoisonWeights()])
    state = json.loads((Run(tmp_path).backup_dir / "state.json").read_text())
    assert state["epoch"] == 1


def test_an_early_stopping_callback_is_not_a_nan(tmp_path):
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100)
    metrics = training.train(tiny_config(tmp_path, epochs=3, plots=False), extra_callbacks=[stop])
    assert metrics["epochs_trained"] == 2 and np.isfinite(metrics["test_loss"])


class RecordCompilation(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        layer = self.model.get_layer("encoder_block_0_attention")
        self.seen = (self.model.jit_compile, layer.compute_dtype, layer.variable_dtype)


@pytest.mark.all_backends
@pytest.mark.backends(
    "tensorflow", "jax"
)  # torch.compile of a training step takes a minute on CPU.
def test_mixed_precision_and_jit_compile_are_really_used_and_given_back(tmp_path):
    record = RecordCompilation()
    config = tiny_config(tmp_path, mixed_precision=True, jit_compile=True, epochs=1, plots=False)
    keras.config.set_dtype_policy("float32")
    assert not op_determinism_enabled()
    metrics = training.train(config, extra_callbacks=[record])
    assert record.seen == (True, "bfloat16", "float32")
    assert metrics["policy"] == "mixed_bfloat16" and np.isfinite(metrics["test_loss"])
    saved = Run(tmp_path).load_model().get_layer("encoder_block_0_attention")
    assert saved.dtype_policy.name == "mixed_bfloat16"
    # The process-wide settings are given back.
    assert keras.config.dtype_policy().name == "float32" and not op_determinism_enabled()


def op_determinism_enabled() -> bool:
    """TensorFlow's process-wide op determinism, which training turns on."""
    if keras.backend.backend() != "tensorflow":
        return False
    from tensorflow.python.framework import config as tf_config

    return tf_config.is_op_determinism_enabled()


# Run directories that hold another run.


def interrupted(config):
    with pytest.raises(KeyboardInterrupt):
        training.train(config, extra_callbacks=[StopAfterEpoch(0)])
    return Run(config.output_dir)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"learning_rate": 0.01}, "learning_rate: the default then, 0.01 now"),
        (
            {"position": "learned", "embed_dim": 8},
            "embed_dim: 16 then, 8 now, position: 'sinusoidal' then, 'learned' now",
        ),
    ],
)
def test_a_run_is_not_resumed_with_other_settings(tmp_path, change, named):
    config = tiny_config(tmp_path, plots=False)
    run = interrupted(config)
    with pytest.raises(RunError, match=rf"other settings \({named}\).*overwrite=True"):
        training.train(dataclasses.replace(config, **change))
    assert run.backup_dir.exists()  # Nothing was touched.
    fresh = training.train(dataclasses.replace(config, overwrite=True, **change))
    assert (
        fresh["epochs_this_run"] == 2
        and run.read_settings()["settings"]["learning_rate"] == fresh["config"]["learning_rate"]
    )


def test_a_run_is_not_resumed_on_other_data(tmp_path):
    path = tmp_path / "data.tsv"
    body = "".join(f"{i % 2}\t{'good' if i % 2 else 'bad'} film {i}\n" for i in range(80))
    path.write_text("label\ttext\n" + body)
    config = tiny_config(tmp_path / "run", dataset=str(path), plots=False)
    interrupted(config)
    path.write_text("label\ttext\n" + body.replace("film", "movie"))
    with pytest.raises(RunError, match=r"trained on other data"):
        training.train(config)


def test_a_torn_checkpoint_is_detected_and_reported(tmp_path):
    config = tiny_config(tmp_path, plots=False)
    run = interrupted(config)
    (weights,) = run.backup_dir.glob("epoch-*.npz")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(RunError, match=r"is damaged or missing.*overwrite=True"):
        training.train(config)
    assert training.train(dataclasses.replace(config, overwrite=True))["epochs_trained"] == 2


def test_a_kill_during_the_final_save_keeps_the_backup(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, plots=False)

    def killed(self, model):
        raise KeyboardInterrupt("killed while saving")

    with monkeypatch.context() as patch:
        patch.setattr(Run, "save_text_model", killed)
        with pytest.raises(KeyboardInterrupt):
            training.train(config)
    run = Run(tmp_path)
    assert run.backup_dir.exists() and not run.path(Run.METRICS).exists()
    metrics = training.train(config)
    assert metrics["epochs_this_run"] == 0 and metrics["epochs_trained"] == 2
    assert run.is_complete()


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path):
    """A real write failure: the file-size limit drops below the weights'
    size after the first epoch, as a full disk would."""
    code = f"""
        import resource, signal, keras
        from keras_posemb import training
        from keras_posemb.errors import RunError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # Fail the write, not the process.

        class FillDisk(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))

        config = training.TrainConfig(**{ {**TINY, "epochs": 3}!r}, plots=False, output_dir="run")
        try:
            training.train(config, extra_callbacks=[FillDisk()])
        except RunError as error:
            print(error)
    """
    out = run_python(code, cwd=tmp_path)
    assert "Could not write the checkpoint of epoch 2" in out
    assert "the checkpoint of epoch 1 is intact" in out
    run = Run(tmp_path / "run")
    assert sorted(p.name for p in run.backup_dir.iterdir()) == ["epoch-1.npz", "state.json"]
    config = training.TrainConfig(
        **{**TINY, "epochs": 3}, plots=False, output_dir=str(run.directory)
    )
    metrics = training.train(config)
    assert metrics["epochs_this_run"] == 2 and metrics["epochs_trained"] == 3


# Settings, checked before any data is read.


@pytest.mark.parametrize(
    "change, match",
    [
        ({"epochs": 0}, r"Argument `epochs` must be a positive int; received epochs=0\."),
        ({"epochs": -3}, r"epochs=-3"),
        ({"batch_size": 0}, r"batch_size=0"),
        ({"vocab_size": 1}, r"`vocab_size` must be an int >= 3; received vocab_size=1"),
        ({"max_length": 0}, r"max_length=0"),
        (
            {"embed_dim": 30, "num_heads": 4},
            r"`num_heads` must be a divisor of embed_dim=30; received num_heads=4",
        ),
        ({"dropout": 1.5}, r"`dropout` must be a number in \[0, 1\); received dropout=1.5"),
        ({"warmup_fraction": -1.0}, r"warmup_fraction=-1.0"),
        ({"warmup_fraction": 2.0}, r"warmup_fraction=2.0"),
        (
            {"learning_rate": 0.0},
            r"`learning_rate` must be a positive finite number; received learning_rate=0.0",
        ),
        ({"learning_rate": float("nan")}, r"learning_rate=nan"),
        ({"order_train_size": 7}, r"order_train_size=7"),
        ({"order_train_size": 0}, r"order_train_size=0"),
        ({"max_words": 3}, r"max_words=3"),
        ({"patience": -1}, r"patience=-1"),
        ({"position": "rotary2"}, r"position='rotary2'"),
        ({"verbose": True}, r"verbose=True"),
        ({"encoding": "klingon"}, r"encoding='klingon'"),
        ({"test_file": "missing.tsv", "dataset": "x.tsv"}, r"dataset='x.tsv'"),
        ({"test_file": "t.tsv"}, r"local files only; received test_file='t.tsv'"),
    ],
)
def test_bad_settings_name_the_setting_and_the_value(tmp_path, change, match):
    config = tiny_config(tmp_path / "out", **change)
    with pytest.raises(ArgumentError, match=match):
        training.train(config)
    assert not (tmp_path / "out").exists()  # Refused before anything was written.


def test_output_dir_that_is_a_file_or_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArgumentError, match=r"`output_dir` must be a directory or a new path"):
        training.train(tiny_config(tmp_path / "file" / "run"))
    with pytest.raises(
        RunError, match=r"Cannot create the output directory /proc/keras_posemb_run"
    ):
        training.train(tiny_config("/proc/keras_posemb_run"))


def test_run_names_follow_the_data_set_name():
    config = training.TrainConfig(dataset="glue/sst2", position="learned")
    assert config.resolved_output_dir() == os.path.join("runs", "glue_sst2_learned")
    assert training.TrainConfig(dataset="data/train.tsv").resolved_output_dir() == os.path.join(
        "runs", "train_sinusoidal"
    )


def event_tags(directory):
    import tensorflow as tf

    tags = set()
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.mark.parametrize("position, plot, tags", [
    ("t5", "bias_by_offset", {"position_bias/t5"}),
    ("rotary", "rotary", {"rotary_wavelengths"}),
])  # fmt: skip
def test_a_relative_run_writes_the_plots_and_summaries_of_its_kind(tmp_path, position, plot, tags):
    training.train(tiny_config(tmp_path, position=position, epochs=1))
    run = Run(tmp_path)
    assert run.plot_path(plot).exists() and not run.plot_path("heatmaps").exists()
    written = event_tags(run.logs_dir / "positions")
    assert tags <= written and not any(
        "sinusoidal" in tag for tag in written
    )  # Nothing to compare.


@pytest.mark.parametrize("steps_per_epoch, epochs, expected", [
    (947, None, 3),  # SST-2: 60,600 phrases in batches of 64; 3,000 / 947 = 3.2.
    (600, None, 5),  # 3,000 / 600.
    (250, None, 10),  # The built-in data set: 12 would be more than 10.
    (48, None, 10),  # Customer reviews: 62, also capped.
    (2000, None, 3),  # 1.5, raised to the floor.
    (947, 7, 7),  # Given epochs are kept.
])  # fmt: skip
def test_default_epochs_follow_the_data_size(steps_per_epoch, epochs, expected):
    config = training.TrainConfig(epochs=epochs)
    assert training.planned_epochs(config, steps_per_epoch) == expected


def review_like_file(path, size, seed):
    """Short product reviews, about 64% positive as in CR, 5% labels flipped.

    The label is the opinion of the clause after "but" when there is one,
    so word order matters, as in real reviews.
    """
    rng = np.random.default_rng(seed)
    aspects = ["battery", "screen", "camera", "price", "sound", "menu", "case", "lens"]
    good = ["great", "excellent", "sharp", "solid", "reliable", "amazing", "easy to use"]
    bad = ["terrible", "awful", "flimsy", "blurry", "useless", "disappointing", "too slow"]
    fillers = ["i think", "honestly", "after a month", "overall", "to be fair", ""]

    def clause(positive):
        words = good if positive else bad
        return f"the {rng.choice(aspects)} is {rng.choice(words)}"

    lines = ["label\ttext"]
    for _ in range(size):
        positive = rng.random() < 0.64
        text = clause(positive)
        if rng.random() < 0.4:
            text = f"{clause(not positive)} but {text}"
        text = f"{rng.choice(fillers)} {text}".strip()
        label = positive != (rng.random() < 0.05)
        lines.append(f"{'positive' if label else 'negative'}\t{text}")
    path.write_text("\n".join(lines) + "\n")
    return path


# TensorFlow's leg only: three default runs are the longest test of a leg,
# and the recipe is the same on every backend.
def test_every_seed_learns_a_small_data_set_with_the_defaults(tmp_path):
    # 1,200 training examples are 19 steps an epoch: the regime where a
    # recipe without warmup or padding masks can stay at the majority class.
    file = review_like_file(tmp_path / "reviews.tsv", 1500, seed=0)
    for seed in range(3):
        config = training.TrainConfig(
            dataset=str(file), seed=seed, output_dir=str(tmp_path / f"run{seed}"), verbose=0,
            plots=False,
        )  # fmt: skip
        metrics = training.train(config)
        labels = training.load_data(config).test.labels
        majority = max(np.mean(labels), 1 - np.mean(labels))
        assert metrics["test_accuracy"] >= majority + 0.15, (seed, metrics["test_accuracy"])


# Sizes that cannot fit in memory (issue 18, item 9): refused up front, with the number.


@pytest.mark.parametrize(
    "change, match",
    [
        ({"max_length": 300_000}, r"`max_length` must be at most 262,144 .*max_length=300000"),
        (
            {"order_train_size": 100_000_000_000},
            r"`order_train_size` must be a size that fits in memory \(125,000,000,000 generated "
            r"sentences would need about [\d,.]+ GiB; this machine has [\d,.]+ GiB\)",
        ),
    ],
)
def test_sizes_that_cannot_fit_are_refused_before_anything_is_written(tmp_path, change, match):
    with pytest.raises(ArgumentError, match=match):
        training.train(tiny_config(tmp_path / "out", **change))
    assert not (tmp_path / "out").exists()


def test_attention_that_cannot_fit_is_refused_before_training(tmp_path):
    from keras_posemb.training.text import check_attention_memory

    long_text = " ".join(["word"] * 30_000)
    dataset = data.TextData(
        "long", data.Split([long_text, "short"], np.array([0, 1])), None, None, ["a", "b"]
    )
    config = tiny_config(tmp_path, max_length=30_000, batch_size=64, num_heads=4)
    # 64 x 4 heads x 30,000^2 x 4 bytes x 4 tensors x 1 layer = 3.7 TB.
    with pytest.raises(
        ArgumentError, match=r"attention over 30,000 tokens in batches of 64 would need about 3,433"
    ):
        check_attention_memory(config, dataset)
    check_attention_memory(dataclasses.replace(config, max_length=64), dataset)  # Truncated: fits.
