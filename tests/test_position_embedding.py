import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import TWO_ULP, compiled, reference_encoding, to_numpy

from keras_posemb import PositionEmbedding, PositionRangeError, SinusoidalInitializer

pytestmark = pytest.mark.all_backends


def built_layer(max_length=16, width=6, **kwargs):
    layer = PositionEmbedding(max_length, **kwargs)
    layer.build((None, None, width))
    return layer


def table_of(layer):
    return layer.get_weights()[0]


def test_adds_the_rows_of_its_table():
    layer = built_layer(16, 6)
    assert layer.embeddings.shape == (16, 6) and layer.embeddings.trainable
    x = np.random.default_rng(0).normal(size=(3, 10, 6)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x + table_of(layer)[:10], atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(layer(x, start_index=6)), x + table_of(layer)[6:16], atol=1e-6
    )
    alone = PositionEmbedding(16, add_to_inputs=False)
    got = to_numpy(alone(x))
    np.testing.assert_allclose(got, np.broadcast_to(table_of(alone)[:10], x.shape))


def test_explicit_positions():
    layer = built_layer(16, 4)
    table = table_of(layer)
    x = np.zeros((2, 3, 4), "float32")
    np.testing.assert_allclose(
        to_numpy(layer(x, positions=np.array([4, 0, 15]))),
        np.broadcast_to(table[[4, 0, 15]], x.shape),
    )
    per_example = np.array([[0, 0, 1], [0, 1, 2]])
    np.testing.assert_allclose(to_numpy(layer(x, positions=per_example)), table[per_example])


def test_sinusoidal_initializer_matches_formula():
    layer = built_layer(300, 9, initializer="sinusoidal")
    np.testing.assert_allclose(
        table_of(layer), reference_encoding(np.arange(300), 9), atol=TWO_ULP["float32"]
    )
    concatenated = built_layer(
        50, 8, initializer=SinusoidalInitializer(layout="concatenated", max_wavelength=100)
    )
    np.testing.assert_allclose(
        table_of(concatenated),
        reference_encoding(np.arange(50), 8, max_wavelength=100, layout="concatenated"),
        atol=TWO_ULP["float32"],
    )


def test_initializer_regularizer_constraint_are_used():
    layer = built_layer(
        8,
        4,
        initializer="ones",
        regularizer=keras.regularizers.L2(0.5),
        constraint=keras.constraints.NonNeg(),
    )
    np.testing.assert_array_equal(table_of(layer), np.ones((8, 4)))
    layer(np.zeros((1, 8, 4), "float32"))
    np.testing.assert_allclose(float(sum(layer.losses)), 0.5 * 32)
    assert isinstance(layer.embeddings.constraint, keras.constraints.NonNeg)


def test_training_updates_only_used_positions():
    tokens = keras.Input(shape=(5,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(tokens)
    x = PositionEmbedding(8, name="positions")(x)
    model = keras.Model(tokens, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = table_of(model.get_layer("positions"))
    ids = np.random.default_rng(0).integers(0, 10, (16, 5))
    model.fit(ids, np.ones((16, 1)), epochs=1, verbose=0)
    after = table_of(model.get_layer("positions"))
    assert np.all(np.any(after[:5] != before[:5], axis=1))
    np.testing.assert_array_equal(after[5:], before[5:])


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_values(policy):
    keras.config.set_dtype_policy(policy)
    layer = PositionEmbedding(2000, initializer="sinusoidal")
    x = np.zeros((2, 2000, 16), "float32")
    got = layer(x)
    compute_dtype = policy.split("_")[1]
    assert layer.embeddings.dtype == "float32"
    assert keras.backend.standardize_dtype(got.dtype) == compute_dtype
    error = np.abs(to_numpy(got)[0] - reference_encoding(np.arange(2000), 16))
    assert error.max() <= TWO_ULP[compute_dtype]


def test_compiled_matches_eager():
    layer = built_layer(40, 8)
    x = np.random.default_rng(1).normal(size=(2, 30, 8)).astype("float32")
    function = compiled(lambda x, s: layer(x, start_index=s))
    got = function(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(10, "int32"))
    np.testing.assert_allclose(to_numpy(got), to_numpy(layer(x, start_index=10)), atol=1e-6)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tf_function_matches_eager(jit_compile):
    import tensorflow as tf

    layer = built_layer(40, 8)
    x = np.random.default_rng(1).normal(size=(2, 30, 8)).astype("float32")
    compiled = tf.function(lambda x, s: layer(x, start_index=s), jit_compile=jit_compile)
    np.testing.assert_allclose(
        compiled(tf.constant(x), tf.constant(10)), layer(x, start_index=10), atol=1e-6
    )


# Out-of-range positions: a clear error on every path.

TOO_LONG = r"positions must lie in \[0, 8\) \(max_length=8.*largest position \W*9\W"


def test_too_long_sequence_eager():
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        built_layer(8, 4)(np.zeros((1, 10, 4), "float32"))


def test_start_index_past_the_table_eager():
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        built_layer(8, 4)(np.zeros((1, 4, 4), "float32"), start_index=6)


def test_explicit_position_out_of_range_eager():
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        built_layer(8, 4)(np.zeros((1, 3, 4), "float32"), positions=np.array([0, 9, 1]))


@pytest.mark.backends("tensorflow")
def test_out_of_range_in_graph_with_unknown_length():
    import tensorflow as tf

    layer = built_layer(8, 4)
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)])
    assert fn(tf.zeros((1, 8, 4))).shape == (1, 8, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_LONG):
        fn(tf.zeros((1, 10, 4)))


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("method", ["predict", "fit"])
def test_predict_and_fit_on_too_long_input(jit_compile, method):
    # A model per method: Keras' JAX trainer cannot fit a model whose
    # predict raised (keras 3.15), whatever the error.
    tokens = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20, 4)(tokens)
    x = PositionEmbedding(8)(x)
    model = keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(x))
    model.compile("sgd", "mse", jit_compile=jit_compile)
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        if method == "predict":
            model.predict(np.ones((2, 10), "int32"), verbose=0)
        else:
            model.fit(np.ones((2, 10), "int32"), np.zeros((2, 4)), verbose=0)


@pytest.mark.backends("tensorflow")
def test_run_time_index_under_xla_gives_nan_not_a_clamped_row():
    import tensorflow as tf

    layer = built_layer(8, 4)
    xla = tf.function(lambda x, s: layer(x, start_index=s), jit_compile=True)
    x = tf.zeros((1, 4, 4))
    np.testing.assert_allclose(xla(x, tf.constant(4))[0], table_of(layer)[4:8])
    assert np.isnan(xla(x, tf.constant(6))).all()


# Bad input.


@pytest.mark.parametrize("max_length", [0, -3, 2.5, True, "10", None])
def test_bad_max_length(max_length):
    with pytest.raises(ValueError, match=f"max_length={max_length!r}"):
        PositionEmbedding(max_length)


def test_bad_initializer():
    with pytest.raises(ValueError, match="initializer='sinusiodal'"):
        PositionEmbedding(8, initializer="sinusiodal")


@pytest.mark.parametrize(
    "inputs, match",
    [
        (np.zeros((4, 8), "float32"), "rank 3"),
        (np.zeros((2, 4, 8), "int64"), "inputs.dtype=int64"),
        (np.array([[["a"]]]), "inputs.dtype=string"),
    ],
)
def test_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        PositionEmbedding(8)(inputs)


def test_feature_width_must_match_build():
    layer = built_layer(8, 4)
    with pytest.raises(ValueError, match="built for inputs with 4 features.*with 5 features"):
        layer(np.zeros((1, 4, 5), "float32"))


@pytest.mark.parametrize(
    "call_kwargs, match",
    [
        ({"start_index": -1}, "start_index=-1"),
        ({"start_index": np.float32(2)}, "start_index=.*float32"),
        ({"positions": np.array([0.0, 1.0, 2.0, 3.0])}, "dtype float"),
        ({"positions": np.zeros((1, 4, 1), "int32")}, r"shape \(1, 4, 1\)"),
        ({"positions": np.array([0, 1, 2])}, r"do not match inputs.shape=\(1, 4, 4\)"),
    ],
)
def test_bad_call_arguments(call_kwargs, match):
    with pytest.raises(ValueError, match=match):
        built_layer(8, 4)(np.zeros((1, 4, 4), "float32"), **call_kwargs)


@pytest.mark.backends("jax")
def test_jax_jit_raises_for_static_positions_and_gives_nan_for_traced_ones():
    import jax

    layer = built_layer(8, 4)
    x = np.zeros((1, 4, 4), "float32")
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        jax.jit(lambda x: layer(x, start_index=6))(x)
    traced = jax.jit(lambda x, s: layer(x, start_index=s))
    np.testing.assert_allclose(to_numpy(traced(x, 4))[0], table_of(layer)[4:8])
    assert np.isnan(to_numpy(traced(x, 6))).all()


@pytest.mark.backends("torch")
def test_torch_compile_raises_for_out_of_range_positions():
    import torch

    layer = built_layer(8, 4)
    function = torch.compile(lambda x, s: layer(x, start_index=s), backend="aot_eager")
    with pytest.raises(PositionRangeError, match=TOO_LONG):
        function(torch.zeros(1, 4, 4), torch.tensor(6))


def test_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    run_layer_test(
        lambda: PositionEmbedding(
            20,
            initializer=SinusoidalInitializer(max_wavelength=77, layout="concatenated"),
            regularizer="l2",
            constraint=keras.constraints.MaxNorm(3.0),
        ),
        x, {"start_index": 2}, tmp_path=tmp_path, mask=np.array([[1] * 6, [1, 1, 0, 0, 0, 0]], bool),
    )  # fmt: skip


def test_a_table_that_cannot_fit_in_memory_is_refused_with_its_size():
    layer = PositionEmbedding(max_length=10**9)
    with pytest.raises(
        ValueError,
        match=r"`max_length` must be a size that fits in memory \(a float32 table of 1,000,000,000 x 64 values would need about 238.4 GiB",
    ):
        layer(np.zeros((1, 4, 64), "float32"))
