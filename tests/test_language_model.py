"""The language-model trainer (`keras-posemb-lm`), its text pipeline, the
extrapolation evaluation and `keras-posemb-generate`."""

import dataclasses
import hashlib
import json
import math
import os
import signal

import keras
import numpy as np
import pytest

from keras_posemb import families
from keras_posemb.analysis import extrapolation
from keras_posemb.cli import generate as generate_cli
from keras_posemb.cli import lm as lm_cli
from keras_posemb.data import characters
from keras_posemb.errors import ArgumentError, DataError, DataWarning, RunError
from keras_posemb.models import build_causal_lm
from keras_posemb.runs import checkpoints
from keras_posemb.runs.run import Run
from keras_posemb.training import language_model
from tests.helpers import run_main, run_python
from tests.test_training import SignalDuringStep, StopAfterEpoch

# A text with some structure to learn: a repeated verse, 3,800 characters.
VERSE = "the quick brown fox jumps over the lazy dog.\nshe sells sea shells by the shore.\n"
TINY_LM = dict(
    steps=6, eval_interval=2, batch_size=4, max_length=8, embed_dim=16, num_heads=2, ff_dim=32,
    num_layers=1, verbose=0, plots=False,
)  # fmt: skip


YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}


def write_text(tmp_path, text=VERSE * 48, name="verse.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def tiny_lm_config(tmp_path, name="run", **changes):
    return language_model.LanguageModelConfig(
        **{**TINY_LM, "text_file": write_text(tmp_path), "output_dir": str(tmp_path / name),
           **changes}
    )  # fmt: skip


# The text pipeline.


def test_character_vocabulary_is_the_sorted_characters_and_round_trips():
    vocabulary = characters.Vocabulary.of_text("hello, world")
    assert vocabulary.characters == (" ", ",", "d", "e", "h", "l", "o", "r", "w")
    ids = vocabulary.encode("hello")
    assert ids.tolist() == [4, 3, 5, 5, 6] and ids.dtype == np.int32
    assert vocabulary.decode(ids) == "hello"
    assert characters.Vocabulary.from_json(vocabulary.to_json()) == vocabulary
    with pytest.raises(DataError, match=r"prompt has characters .*'x', 'z'.* vocabulary has 9"):
        vocabulary.encode("zebra x", "prompt")


def test_byte_vocabulary_is_utf8():
    vocabulary = characters.Vocabulary.of_text("", "byte")
    assert vocabulary.size == 256
    assert vocabulary.encode("é!").tolist() == [0xC3, 0xA9, 0x21]
    assert vocabulary.decode([0xC3, 0xA9, 0x21]) == "é!"


def test_the_validation_split_is_the_texts_end(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    splits = characters.load_text_splits(write_text(tmp_path, text), validation_fraction=0.1)
    assert splits.vocabulary.decode(splits.train) == text[:900]
    assert splits.vocabulary.decode(splits.validation) == text[900:]


def test_random_windows_are_reproducible_and_targets_follow_inputs():
    ids = np.arange(100, dtype=np.int32)
    first = list(characters.random_windows(ids, 10, 4, 3, seed=(0, 1)))
    again = list(characters.random_windows(ids, 10, 4, 3, seed=(0, 1)))
    assert len(first) == 3
    for (x, y), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(y, y2)
        assert x.shape == y.shape == (4, 10)
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, x + 1)  # ids are their positions here
        assert x.min() >= 0 and y.max() <= 99


def test_non_overlapping_windows_score_every_target_once():
    ids = np.arange(23)
    inputs, targets, scored = characters.windows(ids, 5)
    assert inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14],
                               [15, 16, 17, 18, 19]]  # fmt: skip
    np.testing.assert_array_equal(targets, inputs + 1)
    assert scored.min() == 1


def test_sliding_windows_score_each_target_once_with_long_context():
    ids = np.arange(41)
    length, stride = 8, 2
    inputs, targets, scored = characters.windows(ids, length, stride)
    scored_targets = targets[scored == 1]
    assert sorted(scored_targets.tolist()) == list(range(1, targets.max() + 1))  # each once
    # Every scored target after the first window sees at least length - stride earlier tokens.
    rows, columns = np.nonzero(scored[1:])
    assert columns.min() == length - stride
    with pytest.raises(DataError, match="fewer than one window of 64"):
        characters.windows(np.arange(30), 64)


# Evaluation.


def small_model(position="rotary", max_length=8, vocab=7):
    keras.utils.set_random_seed(1)
    return build_causal_lm(vocab, max_length, position, embed_dim=16, num_heads=2, num_layers=1)


def reference_loss(model, inputs, targets, weights):
    logits = keras.ops.convert_to_numpy(model(inputs)).astype(np.float64)
    log_z = np.log(np.exp(logits).sum(-1))
    picked = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
    return float(((log_z - picked) * weights).sum() / weights.sum())


@pytest.mark.all_backends
@pytest.mark.parametrize("stride", [None, 3])
def test_window_loss_is_the_mean_cross_entropy_of_the_scored_tokens(stride):
    model = small_model()
    ids = np.random.default_rng(0).integers(0, 7, 60).astype(np.int32)
    inputs, targets, scored = characters.windows(ids, 12, stride)
    want = reference_loss(model, inputs, targets, scored)
    assert extrapolation.window_loss(model, ids, 12, stride) == pytest.approx(want, rel=1e-5)


def test_a_learned_table_has_no_loss_past_its_length_nor_a_short_text():
    model = small_model("learned", max_length=8)
    ids = np.random.default_rng(0).integers(0, 7, 40).astype(np.int32)
    losses = extrapolation.extrapolation_losses(model, ids, 8)
    assert losses["2"] is None and losses["4"] is None and losses["8"] is None
    assert losses["1"] == pytest.approx(extrapolation.window_loss(model, ids, 8))
    losses = extrapolation.extrapolation_losses(small_model("alibi"), ids, 8)
    assert losses["4"] is not None and losses["8"] is None  # 40 tokens hold no window of 64


def test_long_windows_are_scored_in_attention_blocks_with_the_same_loss(monkeypatch):
    """Beyond BLOCKWISE_FROM tokens the scorer is a blockwise copy; its loss
    is the all-at-once model's (a window loss computed without the switch)."""
    model = small_model("alibi")
    ids = np.random.default_rng(0).integers(0, 7, 80).astype(np.int32)
    want = {str(f): extrapolation.window_loss(model, ids, 8 * f) for f in (1, 2, 4, 8)}
    copies = []
    real_copy = extrapolation.with_attention_blocks
    monkeypatch.setattr(extrapolation, "BLOCKWISE_FROM", 16)
    monkeypatch.setattr(extrapolation, "BLOCK_SIZE", 5)
    monkeypatch.setattr(
        extrapolation,
        "with_attention_blocks",
        lambda m, size: copies.append(size) or real_copy(m, size),
    )
    losses = extrapolation.extrapolation_losses(model, ids, 8)
    assert copies == [5, 5]  # the 32- and 64-token windows
    for factor, loss in want.items():
        assert losses[factor] == pytest.approx(loss, rel=1e-5)


def per_token_losses(model, ids):
    """Each next token's cross-entropy from one causal pass, in float64."""
    logits = keras.ops.convert_to_numpy(model(ids[:, :-1])).astype(np.float64)
    log_z = np.log(np.exp(logits).sum(-1))
    return log_z - np.take_along_axis(logits, ids[:, 1:, None], -1)[..., 0]


@pytest.mark.all_backends
def test_streaming_through_the_cache_scores_as_one_pass_or_its_recomputation():
    """Two streams of 30 tokens, one layer: the full cache gives one causal
    pass's losses; a window of 6 gives the recomputation over the last 6
    tokens (with one layer a key depends on its token alone, and a window
    keeps the distances), which for a window as long as the stream is one
    pass again."""
    model = small_model("rotary")
    ids = np.random.default_rng(2).integers(0, 7, (2, 30)).astype(np.int32)
    want = per_token_losses(model, ids)
    np.testing.assert_allclose(extrapolation.streaming_losses(model, ids), want, rtol=1e-5)
    np.testing.assert_allclose(extrapolation.recomputed_losses(model, ids, 40), want, rtol=1e-5)
    recomputed = extrapolation.recomputed_losses(model, ids, 6)
    np.testing.assert_allclose(recomputed[:, :6], want[:, :6], rtol=1e-5)
    assert np.abs(recomputed[:, 6:] - want[:, 6:]).max() > 1e-4  # Context was cut.
    windowed = extrapolation.streaming_losses(model, ids, "window", window=6)
    np.testing.assert_allclose(windowed, recomputed, rtol=1e-5)
    sinks = extrapolation.streaming_losses(model, ids, "sinks", window=5, sinks=1)
    assert sinks.shape == (2, 29) and np.abs(sinks[:, 6:] - windowed[:, 6:]).max() > 1e-4
    with pytest.raises(ValueError, match=r"shape \(streams, length\).*shape \(30,\)"):
        extrapolation.streaming_losses(model, ids[0])


@pytest.mark.all_backends
def test_with_rope_scaling_copies_the_weights_and_rescales_the_frequencies():
    model = small_model()
    ids = np.arange(14, dtype=np.int32)[None] % 7
    same = extrapolation.with_rope_scaling(model, {"rope_type": "linear", "factor": 1.0})

    def logits(model):
        return keras.ops.convert_to_numpy(model(ids))

    np.testing.assert_array_equal(logits(same), logits(model))  # factor 1: the same rotation
    scaled = extrapolation.with_rope_scaling(model, {"rope_type": "linear", "factor": 4.0})
    rotary = scaled.blocks[0].attention.position_layers[0]
    frequencies, attention_factor = rotary.frequencies()
    want = 10000.0 ** (-np.arange(4) / 4) / 4  # key_dim 8: pairs 2i/8
    np.testing.assert_allclose(frequencies, want, rtol=1e-12)
    assert attention_factor == 1.0
    # Small at initialization (weights of N(0, 0.02)), but far above round-off.
    assert np.abs(logits(scaled) - logits(model)).max() > 1e-6
    with pytest.raises(ValueError, match="no rotary position layer"):
        extrapolation.with_rope_scaling(small_model("alibi"), None)
    with pytest.raises(ArgumentError, match=r"`factor` must be a positive finite number"):
        extrapolation.with_rope_scaling(model, {"rope_type": "linear", "factor": "4"})
    with pytest.raises(ArgumentError, match=r"only the parameters of rope_type='yarn'.*'factr'"):
        extrapolation.with_rope_scaling(model, {**YARN, "factr": 4.0})


@pytest.mark.parametrize("name", list(families.ROTARY_EXTENSIONS))
def test_rotary_extension_families_are_rotary_up_to_max_length_then_extended(name):
    plain, extended = small_model("rotary"), small_model(name)
    extended.set_weights(plain.get_weights())
    assert families.find_position(extended)[0].name == name
    assert families.find_position(plain)[0].name == "rotary"
    ids = np.arange(24, dtype=np.int32)[None] % 7

    def logits(model, length):
        return keras.ops.convert_to_numpy(model(ids[:, :length]))

    np.testing.assert_array_equal(logits(extended, 8), logits(plain, 8))  # Up to max_length 8.
    rope_type = families.ROTARY_EXTENSIONS[name][0].removeprefix("dynamic_")
    static = {"rope_type": "ntk" if rope_type == "dynamic" else rope_type, "factor": 3.0}
    if rope_type in ("yarn", "llama3"):
        static["original_max_position_embeddings"] = 8
    if rope_type == "llama3":
        static.update(low_freq_factor=1.0, high_freq_factor=4.0)
    # At 3 x max_length: the static variant with factor 3 applied to plain rotary.
    want = logits(extrapolation.with_rope_scaling(plain, static), 24)
    np.testing.assert_allclose(logits(extended, 24), want, atol=1e-6)
    assert np.abs(want - logits(plain, 24)).max() > 1e-6


# The trainer.


def test_the_schedule_warms_up_then_decays_to_the_minimum():
    config = language_model.LanguageModelConfig(steps=2000)
    schedule = language_model.learning_rate_schedule(config)
    assert float(schedule(0)) == 0.0
    assert float(schedule(100)) == pytest.approx(1e-3)
    halfway = 1e-4 + (1e-3 - 1e-4) * 0.5  # cosine at half the decay: (1 + cos(pi/2)) / 2
    assert float(schedule(1050)) == pytest.approx(halfway, rel=1e-5)
    assert float(schedule(2000)) == pytest.approx(1e-4)
    assert language_model.LanguageModelConfig(steps=50).resolved_warmup_steps == 5


def test_weight_decay_skips_biases_and_norms():
    config = language_model.LanguageModelConfig()
    model = small_model()
    optimizer = language_model.make_optimizer(config, model)
    optimizer.build(model.trainable_variables)
    for variable in model.trainable_variables:  # Kernels of attention are 3-D.
        assert optimizer._use_weight_decay(variable) == (len(variable.shape) >= 2), variable.path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("lm")
    config = tiny_lm_config(tmp_path, position="rotary", plots=True)
    return config, language_model.train_language_model(config)


@pytest.mark.all_backends
def test_a_run_writes_its_files_and_the_losses_by_length(finished_run):
    config, metrics = finished_run
    run = Run(config.output_dir)
    assert run.is_complete()
    written = {path.name for path in run.outputs()}
    assert {"model.keras", "tokens.json", "metrics.json", "logs", "position_rotary.png"} <= written
    assert "training_curves.png" in written
    assert set(metrics["extrapolation"]) == {"1", "2", "4", "8"}
    curve = [entry["val_loss"] for entry in metrics["validation_curve"]]
    assert len(curve) == 3 and metrics["val_loss"] == min(curve)
    assert metrics["best_step"] == 2 * (curve.index(min(curve)) + 1)
    # The 1x loss is the validation loss of the kept weights, computed anew.
    assert metrics["extrapolation"]["1"] == pytest.approx(metrics["val_loss"], rel=1e-4)
    model, vocabulary = run.load_model(), run.read_tokens()
    validation = language_model.load_text(config).validation
    want = extrapolation.window_loss(model, validation, 32)
    assert metrics["extrapolation"]["4"] == pytest.approx(want, rel=1e-5)
    assert vocabulary.decode(vocabulary.encode(VERSE)) == VERSE
    on_disk = json.loads(run.path("metrics.json").read_text())
    assert on_disk["extrapolation"] == metrics["extrapolation"]


def test_tensorboard_has_loss_perplexity_and_learning_rate(finished_run):
    from tensorboard.backend.event_processing import event_accumulator

    config, metrics = finished_run
    logs = Run(config.output_dir).logs_dir
    values = {}
    for folder in ("train", "validation"):
        events = event_accumulator.EventAccumulator(
            str(logs / folder), size_guidance={"tensors": 0}
        )
        events.Reload()
        values[folder] = {tag: events.Tensors(tag) for tag in events.Tags()["tensors"]}
    train, validation = values["train"], values["validation"]
    assert {"epoch_loss", "epoch_perplexity", "epoch_learning_rate"} <= set(train)
    for loss, perplexity in zip(train["epoch_loss"], train["epoch_perplexity"]):
        loss = float(keras.ops.convert_to_numpy(tensor_value(loss)))
        assert float(tensor_value(perplexity)) == pytest.approx(math.exp(loss), rel=1e-5)
    last = float(tensor_value(validation["epoch_perplexity"][-1]))
    assert last == pytest.approx(math.exp(metrics["validation_curve"][-1]["val_loss"]), rel=1e-5)


def tensor_value(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


@pytest.mark.all_backends
def test_generate_prints_the_prompt_and_its_continuation(finished_run, capsys):
    config, _ = finished_run
    argv = [config.output_dir, "the ", "--max-new-tokens", "12"]
    status, out, err = run_main(generate_cli.main, [*argv, "--temperature", "0"], capsys)
    assert status == 0, err
    model, vocabulary = Run(config.output_dir).load_language_model()
    greedy = model.generate(vocabulary.encode("the ")[None], 12)
    assert out == vocabulary.decode(greedy[0]) + "\n" and out.startswith("the ")
    # By default: three samples at temperature 0.8 from the 200 most likely
    # tokens, seeded; the same text as the Python call.
    sampled = [run_main(generate_cli.main, [*argv, "--seed", "3"], capsys)[1] for _ in range(2)]
    assert sampled[0] == sampled[1]
    texts = sampled[0][:-1].split("\n" + generate_cli.SEPARATOR + "\n")
    want = model.generate(
        vocabulary.encode("the ")[None].repeat(3, 0), 12, temperature=0.8, top_k=200, seed=3
    )
    assert texts == [vocabulary.decode(row) for row in want]
    assert len(set(texts)) > 1  # Each sample is drawn on its own.
    status, _, err = run_main(generate_cli.main, [config.output_dir, "Q!"], capsys)
    assert status == 2 and "prompt has characters the model was not trained on ('!', 'Q')" in err
    rolling = ["--cache", "sinks", "--window", "5", "--sinks", "2", "--max-new-tokens", "30"]
    status, out, err = run_main(generate_cli.main, [*argv[:2], *rolling, "--temperature", "0"],
                                capsys)  # fmt: skip
    want = model.generate(vocabulary.encode("the ")[None], 30, cache="sinks", window=5, sinks=2)
    assert status == 0 and out == vocabulary.decode(want[0]) + "\n", err


def test_generate_starts_a_line_without_a_prompt_or_from_a_prompt_file(
    finished_run, tmp_path, capsys
):
    config, _ = finished_run
    model, vocabulary = Run(config.output_dir).load_language_model()
    status, out, err = run_main(
        generate_cli.main, [config.output_dir, "--num-samples", "1"], capsys
    )
    assert status == 0, err
    want = model.generate(vocabulary.encode("\n")[None], 200, temperature=0.8, top_k=200, seed=0)
    assert out == vocabulary.decode(want[0][1:]) + "\n"  # The newline it starts after is left out.
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("she sells", encoding="utf-8")
    argv = [config.output_dir, "--prompt-file", str(prompt), "--temperature", "0"]
    status, out, _ = run_main(generate_cli.main, argv, capsys)
    assert status == 0 and out.startswith("she sells")


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--temperature", "0", "--top-k", "5"], "--top-k must be left out with --temperature 0"),
        (
            ["--temperature", "0", "--num-samples", "2"],
            "--num-samples must be 1 with --temperature 0",
        ),
        (["--seed", "-1"], "--seed must be an int >= 0; received --seed -1"),
        (["--num-samples", "0"], "--num-samples must be a positive int"),
        (["--max-new-tokens", str(10**12)], "--max-new-tokens must be a size that fits in memory"),
        # Refused before a billion prompts are made (the process was killed for memory).
        (["--num-samples", str(10**9)], "--num-samples must be a size that fits in memory"),
        (["--prompt-file", "/no/such.txt"], "/no/such.txt"),
        (["--cache", "sinks"], "--window must be a positive int with --cache sinks"),
        (["--window", "8"], "--window must be left out with --cache full"),
    ],
)
def test_generate_refuses_bad_flags_in_one_line(finished_run, flags, expected, capsys):
    config, _ = finished_run
    status, _, err = run_main(generate_cli.main, [config.output_dir, *flags], capsys)
    assert status == 2 and err.count("\n") == 1 and expected in err, err


def test_generate_refuses_what_is_not_a_language_model_run(tmp_path, capsys):
    status, _, err = run_main(generate_cli.main, [str(tmp_path), "hi"], capsys)
    assert status == 2 and "is not a run directory of keras-posemb" in err


@pytest.mark.parametrize("stop", ["after an interval", "SIGTERM within one"])
def test_a_stopped_run_resumes_to_what_an_uninterrupted_one_gives(tmp_path, stop, capsys):
    """TensorFlow only: the checkpoints are the classifier's, whose resume
    is tested on every backend (`test_training`)."""
    config = tiny_lm_config(tmp_path, "stopped", position="alibi", steps=12, eval_interval=4)
    if stop == "after an interval":
        with pytest.raises(KeyboardInterrupt):
            language_model.train_language_model(config, extra_callbacks=[StopAfterEpoch(1)])
    else:
        stopper = SignalDuringStep(batch=1, signum=signal.SIGTERM)
        with pytest.raises(checkpoints.Interrupted):
            language_model.train_language_model(config, extra_callbacks=[stopper])
    assert Run(config.output_dir).backup_dir.exists()
    capsys.readouterr()
    resumed = language_model.train_language_model(dataclasses.replace(config, verbose=2))
    resumed_at = "step 6" if stop == "SIGTERM within one" else "step 8"
    assert f"Resuming {config.output_dir} after {resumed_at}." in capsys.readouterr().out
    whole = language_model.train_language_model(
        dataclasses.replace(config, output_dir=str(tmp_path / "whole"))
    )
    for key in ("val_loss", "best_step", "extrapolation", "validation_curve"):
        assert resumed[key] == whole[key], key
    assert resumed["train_seconds"] > 0 and resumed["tokens_per_second"] > 0
    again = language_model.train_language_model(config)  # finished: nothing trained
    assert again == Run(config.output_dir).read_metrics()


def test_progress_names_the_steps_of_each_interval(tmp_path, capsys):
    language_model.train_language_model(tiny_lm_config(tmp_path, verbose=2))
    out = capsys.readouterr().out
    assert "Steps 1-2 of 6" in out and "Steps 5-6 of 6" in out and "Epoch" not in out
    assert f"Text {str(tmp_path / 'verse.txt')!r}:" in out


@pytest.mark.parametrize("steps, interval", [(2000, 250), (800, 200), (600, 300), (997, 997)])
def test_the_default_interval_is_the_divisor_of_the_steps_nearest_250(tmp_path, steps, interval):
    config = tiny_lm_config(tmp_path, steps=steps, eval_interval=None)
    config.validate()
    assert config.interval_steps == interval and config.intervals == steps // interval


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(eval_interval=4), "eval_interval.*divisor of steps=6, such as 2 or 3; received"),
        (dict(text_file="/no/such.txt"), "existing text file; received text_file='/no/such.txt'"),
        (dict(text_file=None, validation_file="x.txt"), "validation_file.*only with `text_file`"),
        (dict(text_file=None, encoding="latin-1"), "encoding.*only with `text_file`"),
        (dict(validation_file="x.txt", validation_fraction=0.2), "validation_fraction.*without"),
        (dict(level="word"), "level.*'character', 'byte'.*level='word'"),
        (dict(position="nope"), "position='nope'"),
        (dict(max_length=10**6), "max_length.*at most .*max_length=1000000"),
        (dict(min_learning_rate=1), "min_learning_rate.*min_learning_rate=1"),
        (dict(warmup_steps=6), "warmup_steps.*\\[0, 5\\].*warmup_steps=6"),
        (dict(extrapolation="1,x"), "extrapolation.*positive ints.*extrapolation='1,x'"),
        (dict(extrapolation="0,1"), "extrapolation.*positive ints.*extrapolation='0,1'"),
        (dict(max_length=2048, extrapolation="1,256"), "at most 1,024 .*evaluated at 256x"),
    ],
)
def test_bad_settings_are_refused_before_the_text_is_read(tmp_path, change, match):
    config = tiny_lm_config(tmp_path, **change)
    with pytest.raises(ArgumentError, match=match):
        language_model.train_language_model(config)
    assert not (tmp_path / "run").exists()


def test_the_extrapolation_factors_are_sorted_ints(tmp_path):
    assert tiny_lm_config(tmp_path).evaluation_factors == (1, 2, 4, 8)
    assert tiny_lm_config(tmp_path, extrapolation="64, 1,8,1").evaluation_factors == (1, 8, 64)


def test_a_run_is_not_resumed_on_other_text(tmp_path):
    config = tiny_lm_config(tmp_path, "changed")
    with pytest.raises(KeyboardInterrupt):
        language_model.train_language_model(config, extra_callbacks=[StopAfterEpoch(0)])
    write_text(tmp_path, VERSE.upper() * 48)
    with pytest.raises(RunError, match="trained on other data.*text_file="):
        language_model.train_language_model(config)


def test_the_command_line_trains_and_says_what_it_wrote(tmp_path, capsys):
    flags = ["--text-file", write_text(tmp_path), "--output-dir", str(tmp_path / "cli")]
    for name, value in TINY_LM.items():
        if name == "plots":
            flags.append("--no-plots")
        elif name != "verbose":
            flags += ["--" + name.replace("_", "-"), str(value)]
    status, out, err = run_main(lm_cli.main, [*flags, "--position", "t5"], capsys)
    assert status == 0, err
    assert "Validation loss by context length (non-overlapping windows): 1x " in out
    assert f'keras-posemb-generate {tmp_path / "cli"} "prompt"' in out
    status, _, err = run_main(lm_cli.main, [*flags, "--steps", "0"], capsys)
    assert status == 2 and err.startswith("error: ") and "steps" in err


def test_the_default_text_is_built_in_and_offline():
    splits = language_model.load_text(language_model.LanguageModelConfig())
    text = splits.vocabulary.decode(splits.train[:200])
    assert "the" in text.split() and "\n" in text
    assert len(splits.validation) == pytest.approx(len(splits.train) / 9, rel=1e-3)


# A text that downloads: a file the test writes, reached by a file:// URL.


@pytest.fixture
def offline_corpus(tmp_path, monkeypatch):
    from keras_posemb.data import corpora

    source = tmp_path / "source" / "verse.txt"
    source.parent.mkdir()
    source.write_text(VERSE * 48, encoding="utf-8")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    corpus = corpora.Corpus(("file:///no/such/mirror.txt", source.as_uri()), digest, 3840, "verse")
    monkeypatch.setitem(corpora.CORPORA, "shakespeare", corpus)
    monkeypatch.setattr(corpora, "CACHE_DIR", str(tmp_path / "cache"))
    return source


def test_download_fetches_the_text_once_checks_it_and_trains_on_it(offline_corpus, tmp_path):
    settings = {**TINY_LM, "download": "shakespeare"}
    config = language_model.LanguageModelConfig(**settings, output_dir=str(tmp_path / "run"))
    assert config.resolved_output_dir().endswith("run")
    assert language_model.LanguageModelConfig(**settings).resolved_output_dir() == os.path.join(
        "runs", "lm_shakespeare_rotary"
    )
    metrics = language_model.train_language_model(config)
    cached = tmp_path / "cache" / "keras_posemb" / "shakespeare.txt"
    assert cached.read_bytes() == offline_corpus.read_bytes()  # The first source failed.
    from_file = language_model.train_language_model(
        language_model.LanguageModelConfig(
            **TINY_LM, text_file=str(offline_corpus), output_dir=str(tmp_path / "file")
        )
    )
    assert metrics["val_loss"] == from_file["val_loss"]  # The same text.
    offline_corpus.unlink()  # From the cache now: no source is needed.
    again = dataclasses.replace(config, output_dir=str(tmp_path / "again"))
    assert language_model.train_language_model(again)["val_loss"] == metrics["val_loss"]


def test_a_download_that_fails_or_differs_says_what_to_do(offline_corpus, tmp_path):
    from keras_posemb.data import corpora

    offline_corpus.write_text("another text", encoding="utf-8")  # Its SHA-256 differs.
    with pytest.raises(
        DataError, match=r"Could not download verse.*file hash does not match.*text_file"
    ):
        corpora.fetch("shakespeare")
    for change, match in [
        (dict(download="gutenberg"), r"`download` must be one of \('shakespeare',\)"),
        (
            dict(download="shakespeare", text_file=str(offline_corpus)),
            r"`download` must be left out",
        ),
    ]:
        with pytest.raises(ArgumentError, match=match):
            language_model.LanguageModelConfig(**{**TINY_LM, **change}).validate()


def test_a_length_that_cannot_be_scored_says_why(tmp_path, capsys):
    validation = write_text(tmp_path, VERSE[:30], "short.txt")  # 30 tokens: 4x, 8x do not fit.
    config = tiny_lm_config(tmp_path, position="learned", validation_file=validation, verbose=1)
    metrics = language_model.train_language_model(config)
    assert metrics["extrapolation"]["2"] is None and metrics["extrapolation"]["1"] is not None
    out = capsys.readouterr().out
    assert "2x n/a (past the 8 positions of the model's learned table)" in out
    assert (
        metrics["extrapolation_skipped"]["8"] == "past the 8 positions of the model's learned table"
    )
    rotary = language_model.train_language_model(
        dataclasses.replace(config, position="rotary", output_dir=str(tmp_path / "rotary"))
    )
    assert rotary["extrapolation"]["2"] is not None  # 17 of 30 tokens.
    assert "fewer than a window needs" in rotary["extrapolation_skipped"]["4"]


def test_a_full_disk_while_writing_the_final_files_is_one_line_and_a_rerun_writes_them(
    tmp_path,
):
    """A real write failure: the file-size limit drops below the model's size
    once training ends, as a full disk would."""
    text = write_text(tmp_path)
    code = f"""
        import resource, signal, keras
        from keras_posemb.errors import RunError
        from keras_posemb.training import language_model
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # Fail the write, not the process.

        class FillDisk(keras.callbacks.Callback):
            def on_train_end(self, logs=None):
                resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))

        config = language_model.LanguageModelConfig(
            **{TINY_LM!r}, text_file={text!r}, output_dir="run"
        )
        try:
            language_model.train_language_model(config, extra_callbacks=[FillDisk()])
        except RunError as error:
            print(error)
    """
    out = run_python(code, cwd=tmp_path)
    assert "Could not write the run's final files in run (File too large)" in out, out
    assert "its checkpoints are intact" in out
    run = Run(tmp_path / "run")
    assert run.has_backup() and not run.is_complete()
    config = tiny_lm_config(tmp_path)
    assert language_model.train_language_model(config)["best_step"] > 0
    assert run.is_complete()


def test_a_text_of_one_character_or_a_validation_file_that_is_the_text_is_named(tmp_path):
    config = tiny_lm_config(tmp_path, text_file=write_text(tmp_path, "a" * 400, "a.txt"))
    with pytest.raises(DataError, match=r"1 distinct character\(s\) \('a'\): there is nothing"):
        language_model.train_language_model(config)
    with pytest.raises(ArgumentError, match=r"`vocab_size` must be an int >= 2"):
        build_causal_lm(1, 8)
    text = write_text(tmp_path)
    same = tiny_lm_config(tmp_path, "same", text_file=text, validation_file=text)
    with pytest.warns(DataWarning, match=r"the validation file is the training file"):
        language_model.train_language_model(same)


def test_a_source_that_never_answers_is_given_up_on(offline_corpus, tmp_path, monkeypatch):
    """A server that accepts the connection and stays silent: the next
    source is tried after `SILENCE_SECONDS`, never a hang."""
    import socket
    import time

    from keras_posemb.data import corpora

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/input.txt"
    corpus = corpora.CORPORA["shakespeare"]
    monkeypatch.setitem(
        corpora.CORPORA, "shakespeare", dataclasses.replace(corpus, urls=(url, corpus.urls[1]))
    )
    monkeypatch.setattr(corpora, "SILENCE_SECONDS", 1.0)
    start = time.monotonic()
    try:
        path = corpora.fetch("shakespeare")  # The second source, a file, answers.
    finally:
        silent.close()
    assert time.monotonic() - start < 20 and open(path, "rb").read() == offline_corpus.read_bytes()
    assert socket.getdefaulttimeout() is None  # Given back.
