"""The registry of position families, and how a model's family is found again."""

import dataclasses

import keras
import numpy as np
import pytest
from helpers import TINY_FLAGS, run_main
from reference import reference_encoding, to_numpy

from keras_posemb import families, modeling, models, training
from keras_posemb.analysis import plots, viz
from keras_posemb.cli import compare as compare_cli
from keras_posemb.cli import plot as plot_cli
from keras_posemb.cli import train as train_cli
from keras_posemb.errors import ArgumentError, argument_error
from keras_posemb.layers import AttentionBias
from keras_posemb.runs.run import Run
from keras_posemb.training import compare as experiments

SMALL = dict(
    vocab_size=20, num_classes=2, max_length=12, embed_dim=8, num_heads=2, ff_dim=8, num_layers=2
)


@keras.saving.register_keras_serializable(package="keras_posemb_tests")
class NeighbourBias(AttentionBias):
    """A toy family's layer: -|i - j| / 2 on every head's logits."""

    def check_attention(self, num_heads, key_dim):
        if num_heads > 4:
            raise argument_error("num_heads", num_heads, "at most 4 for the toy")

    def bias(self, query_positions, key_positions):
        offsets = keras.ops.expand_dims(query_positions, -1) - keras.ops.expand_dims(
            key_positions, -2
        )
        distance = keras.ops.cast(keras.ops.abs(offsets), "float32")
        return keras.ops.expand_dims(-0.5 * distance, -3) * keras.ops.ones((self.num_heads, 1, 1))


def _toy_plot(layer, length, trained_length=None):
    offsets, bias = viz.bias_by_offset(layer, length or 8)
    return viz.plot_bias_by_offset(offsets, bias, "toy")


@pytest.fixture
def toy_family():
    family = families.register(
        families.PositionFamily(
            name="toy",
            where="attention",
            description="a toy distance penalty",
            make_layer=lambda settings, **kwargs: NeighbourBias(**kwargs),
            layer_class=NeighbourBias,
        )
    )
    plots.register_view(
        "toy",
        plots.FamilyView(
            plots={"toy_bias": _toy_plot},
            summaries=lambda layer, length, epoch: [
                plots.Summary("position_bias/toy", "image", _toy_plot(layer, length))
            ],
        ),
    )
    yield family
    families.unregister("toy")
    plots.unregister_view("toy")


# Under TensorFlow only: what is tested is the registry, the same on every
# backend (the trainer's own backend tests are in test_training.py).
def test_a_family_added_in_a_test_reaches_every_tool(toy_family, tmp_path, capsys):
    """No other file changes: the classifier, the trainer's flags and its run,
    the comparison and the plots take the new family from the registry."""
    model = models.build_text_classifier(30, 2, 16, position="toy", embed_dim=8, num_heads=2)
    assert families.find_position(model)[0] is toy_family
    # The trainer: its --position choices and help, its run, plots and summaries.
    status, out, _ = run_main(train_cli.main, ["--help"], capsys)
    assert status == 0 and "toy: a toy distance penalty" in " ".join(out.split())
    config, _ = train_cli.parse_config(
        [*TINY_FLAGS, "--position", "toy", "--output-dir", str(tmp_path / "run")]
    )
    assert config.position == "toy"
    metrics = training.train(dataclasses.replace(config, epochs=1))
    run = Run(tmp_path / "run")
    assert metrics["position"] == "toy" and run.plot_path("toy_bias").exists()
    assert run.plot_path("toy_bias") in run.outputs()
    from test_training import event_tags

    assert "position_bias/toy" in event_tags(run.logs_dir / "positions")
    # The plot command on the saved model.
    plot_cli.main([str(run.directory), "--output-dir", str(tmp_path / "plots")])
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["position_toy_bias.png"]
    # The comparison: its --positions flag and its runs.
    compare_config, args = train_cli.parse_config(
        [*TINY_FLAGS, "--positions", "toy", "--epochs", "1"], compare_cli.__doc__,
        compare_cli.DEFAULTS, compare_cli.extra_flags(),
    )  # fmt: skip
    compare_config = dataclasses.replace(compare_config, output_dir=str(tmp_path / "compare"))
    results = experiments.compare_encodings(compare_config, seeds=1, positions=args.positions)
    assert list(results["summary"]) == ["toy"]


def test_a_familys_own_rule_is_checked_before_any_data_is_read(toy_family, tmp_path, capsys):
    argv = [
        *TINY_FLAGS,
        "--position",
        "toy",
        "--num-heads",
        "8",
        "--output-dir",
        str(tmp_path / "run"),
    ]
    status, _, err = run_main(train_cli.main, argv, capsys)
    assert status == 2
    assert (
        err.strip()
        == "error: Argument --num-heads must be at most 4 for the toy; received --num-heads 8."
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--position", "alibi", "--num-heads", "3", "--embed-dim", "63"],
     "error: Argument --num-heads must be even for ALiBi with split heads (half of the heads look left, half right); received --num-heads 3."),
    (["--position", "rotary", "--num-heads", "2", "--embed-dim", "6"],
     "error: Rotary positions need an even number of features per head (they rotate in pairs); received 3 features per head, with --num-heads 2."),
])  # fmt: skip
def test_every_setting_a_family_needs_is_checked_before_any_data(
    flags, message, tmp_path, capsys, monkeypatch
):
    def no_data(config):
        raise AssertionError("data was read")

    monkeypatch.setattr(training, "load_data", no_data)
    argv = [*TINY_FLAGS, *flags, "--output-dir", str(tmp_path / "run")]
    status, _, err = run_main(train_cli.main, argv, capsys)
    assert status == 2 and err.strip() == message
    assert not (tmp_path / "run").exists()


def test_the_registry_refuses_what_it_cannot_hold(toy_family):
    with pytest.raises(ArgumentError, match="a name not registered yet; received name='toy'"):
        families.register(toy_family)
    with pytest.raises(ArgumentError, match=r"where='inside'"):
        families.PositionFamily(name="x", where="inside", description="")
    with pytest.raises(ArgumentError, match="make_layer"):
        families.PositionFamily(name="x", where="attention", description="")
    with pytest.raises(ArgumentError, match=r"position='nope'"):
        families.get("nope")
    assert families.names()[-1] == "toy" and "toy_bias" in plots.plot_names()


def test_an_attention_family_is_refused_where_embeddings_are_expected_and_back():
    from keras_posemb import PositionalAttention, RotaryEmbedding

    with pytest.raises(ArgumentError, match="works inside attention"):
        PositionalAttention(2, 4, position="sinusoidal")
    with pytest.raises(ArgumentError, match="attention_role"):
        PositionalAttention(2, 4, position=keras.layers.Dense(3))
    with pytest.raises(ArgumentError, match="at most one position layer of each"):
        PositionalAttention(2, 4, position=[RotaryEmbedding(), RotaryEmbedding()])


def test_position_table_of_each_kind():
    small = {**SMALL, "num_layers": 1}
    learned = models.build_text_classifier(**small, position="learned")
    kind, table = plots.position_table(learned)
    assert kind == "learned"
    np.testing.assert_array_equal(
        table, learned.get_layer(families.POSITION_LAYER_NAME).get_weights()[0]
    )
    kind, table = plots.position_table(models.build_text_classifier(**small), length=12)
    assert kind == "sinusoidal"
    np.testing.assert_allclose(table, reference_encoding(np.arange(12), 8), atol=1e-12)
    with pytest.raises(ValueError, match=r"no position table \(its positions: 'none'\)"):
        plots.position_table(models.build_text_classifier(**small, position="none"))


def test_a_layer_is_told_by_its_type_not_by_its_attributes():
    """A layer named like the position layer, with an `embeddings` table,
    is not a learned position table."""
    import keras

    tokens = keras.Input(shape=(None,), dtype="int32")
    embedding = keras.layers.Embedding(10, 4, name=families.POSITION_LAYER_NAME)
    model = keras.Model(tokens, embedding(tokens))
    assert hasattr(embedding, "embeddings")
    with pytest.raises(ValueError, match="no position table"):
        plots.position_table(model)
    assert families.find_position(model) == (families.get("none"), None)


@pytest.mark.parametrize("position", families.names())
def test_the_family_of_each_classifier_is_found_again(position):
    model = models.build_text_classifier(**SMALL, position=position)
    family, layer = families.find_position(model)
    assert family.name == position
    if family.where == "embeddings":
        assert layer is model.get_layer(families.POSITION_LAYER_NAME)
    elif family.where == "attention":
        assert layer in model.get_layer(modeling.attention_layer_name(0)).position_layers


def test_alibi_bias_by_offset_is_the_papers_penalty():
    model = models.build_text_classifier(**SMALL, position="alibi")
    offsets, bias = viz.bias_by_offset(families.find_position(model)[1], 5)
    np.testing.assert_array_equal(offsets, np.arange(-5, 6))
    # Two split heads with the slope of one head, 2^-8: left, then right.
    left = np.where(offsets <= 0, -(2.0**-8) * np.abs(offsets), np.nan)
    np.testing.assert_allclose(bias, [left, left[::-1]], atol=1e-7)


def test_t5_bias_by_offset_reads_the_first_blocks_table():
    from reference import reference_t5_bucket

    model = models.build_text_classifier(**SMALL, position="t5")
    _, bias_layer = families.find_position(model)
    assert bias_layer is model.get_layer(modeling.attention_layer_name(0)).bias
    table = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    bias_layer.set_weights([table])
    offsets, bias = viz.bias_by_offset(bias_layer, 40)
    want = np.array([[table[reference_t5_bucket(int(o)), h] for o in offsets] for h in range(2)])
    np.testing.assert_allclose(bias, want, atol=1e-7)


def test_rotary_wavelengths():
    model = models.build_text_classifier(**SMALL, position="rotary")
    # Heads of 4 features: pairs 0 and 1 turn by 10000^0 and 10000^-0.5 per position.
    rotary = families.find_position(model)[1]
    np.testing.assert_allclose(viz.rotary_wavelengths(rotary), [2 * np.pi, 2 * np.pi * 100])


EMBEDDINGS_FAMILIES = [
    f.name for f in families.families().values() if f.where == "embeddings" and not f.grid
]


@pytest.mark.all_backends
@pytest.mark.parametrize("name", EMBEDDINGS_FAMILIES)
def test_attention_after_an_embeddings_family_sees_the_padding_mask(name):
    """Embedding(mask_zero=True) -> the family's layer -> MultiHeadAttention:
    the outputs at the real tokens are those of the sequence without its
    padding, which holds only if the mask passes through to attention."""
    tokens = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
    x = families.get(name).make_layer(families.PositionSettings(8, 2, max_length=10))(x)
    model = keras.Model(tokens, keras.layers.MultiHeadAttention(2, 4)(x, x))
    alone = to_numpy(model(np.array([[3, 7, 9]])))
    np.testing.assert_allclose(
        to_numpy(model(np.array([[3, 7, 9, 0, 0, 0]])))[:, :3], alone, atol=1e-6
    )
    # Real tokens in place of the padding do change them.
    assert np.abs(to_numpy(model(np.array([[3, 7, 9, 5, 5, 5]])))[:, :3] - alone).max() > 1e-4


@pytest.mark.all_backends
@pytest.mark.parametrize("name", EMBEDDINGS_FAMILIES)
def test_an_embeddings_family_trains_jit_compiled(name):
    tokens = keras.Input(shape=(12,), dtype="int32")
    x = keras.layers.Embedding(20, 8)(tokens)
    x = families.get(name).make_layer(families.PositionSettings(8, 2, max_length=12))(x)
    model = keras.Model(tokens, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    model.compile("adam", "mse", jit_compile=True)
    ids = np.random.default_rng(0).integers(0, 20, size=(64, 12))
    history = model.fit(ids, ids[:, :1].astype("float32"), epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
