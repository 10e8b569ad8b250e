import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import TWO_ULP, compiled, reference_encoding, to_numpy

from keras_posemb import PositionEmbedding, PositionRangeError, SinusoidalEncoding

pytestmark = pytest.mark.all_backends
F32 = TWO_ULP["float32"]


def encoding_of(layer, batch, length, width, dtype="float32", **call_kwargs):
    """The encoding alone: the layer applied to zeros."""
    zeros = np.zeros((batch, length, width), dtype)
    return to_numpy(layer(zeros, **call_kwargs))


@pytest.mark.parametrize("layout", ["interleaved", "concatenated"])
@pytest.mark.parametrize("width", [1, 2, 7, 16, 33])
def test_matches_float64_formula(layout, width):
    layer = SinusoidalEncoding(layout=layout)
    got = encoding_of(layer, 2, 50, width)
    want = reference_encoding(np.arange(50), width, layout=layout)
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=0, atol=F32)


def test_max_wavelength_is_used():
    layer = SinusoidalEncoding(max_wavelength=50)
    got = encoding_of(layer, 1, 40, 8)[0]
    np.testing.assert_allclose(
        got, reference_encoding(np.arange(40), 8, max_wavelength=50), atol=F32
    )


def test_adds_to_inputs_and_optionally_scales():
    x = np.random.default_rng(0).normal(size=(3, 10, 6)).astype("float32")
    pe = reference_encoding(np.arange(10), 6)
    added = SinusoidalEncoding()(x)
    np.testing.assert_allclose(added, x + pe, atol=1e-6)
    scaled = SinusoidalEncoding(scale_inputs=True)(x)
    np.testing.assert_allclose(scaled, x * np.sqrt(6) + pe, atol=1e-5)
    alone = SinusoidalEncoding(add_to_inputs=False)(x)
    assert alone.shape == x.shape
    np.testing.assert_allclose(alone, np.broadcast_to(pe, x.shape), atol=F32)


@pytest.mark.parametrize("layer", [SinusoidalEncoding, lambda: PositionEmbedding(8)])
def test_image_shaped_inputs_are_refused_naming_the_shape(layer):
    """(batch, rows, cols, d) would get every row the same code (issue 22)."""
    with pytest.raises(
        ValueError,
        match=r"rank 3 \(batch, sequence, features\); received inputs.shape=\(2, 3, 5, 4\) of rank 4",
    ):
        layer()(np.zeros((2, 3, 5, 4), "float32"))


@pytest.mark.parametrize("as_tensor", [False, True])
def test_start_index(as_tensor):
    start = keras.ops.convert_to_tensor(1000, "int32") if as_tensor else 1000
    got = encoding_of(SinusoidalEncoding(), 1, 20, 10, start_index=start)[0]
    np.testing.assert_allclose(got, reference_encoding(np.arange(1000, 1020), 10), atol=F32)


def test_start_index_equals_slice_of_full_result():
    layer = SinusoidalEncoding()
    full = encoding_of(layer, 1, 300, 12)[0]
    part = encoding_of(layer, 1, 100, 12, start_index=200)[0]
    np.testing.assert_allclose(part, full[200:], rtol=0, atol=0)


def test_explicit_positions_shared_and_per_example():
    layer = SinusoidalEncoding()
    shared = np.array([5, 3, 9, 0])
    got = encoding_of(layer, 2, 4, 6, positions=shared)
    np.testing.assert_allclose(
        got, np.broadcast_to(reference_encoding(shared, 6), got.shape), atol=F32
    )
    # Left padding: each example counts positions from its first real token.
    per_example = np.array([[0, 0, 0, 1], [0, 1, 2, 3]])
    got = encoding_of(layer, 2, 4, 6, positions=per_example)
    np.testing.assert_allclose(got, reference_encoding(per_example, 6), atol=F32)


# Properties of the formula, checked on the layer's output.


def test_values_in_unit_interval_and_first_row():
    pe = encoding_of(SinusoidalEncoding(), 1, 2000, 64)[0]
    assert np.all(np.abs(pe) <= 1.0)
    np.testing.assert_array_equal(pe[0], np.tile([0.0, 1.0], 32))


def test_squared_norm_is_half_the_width():
    pe = encoding_of(SinusoidalEncoding(), 1, 3000, 64)[0]
    np.testing.assert_allclose(np.sum(pe**2, axis=-1), 32.0, atol=1e-5)


def test_shift_is_a_rotation_independent_of_position():
    d, k = 16, 7
    pe = encoding_of(SinusoidalEncoding(), 1, 500, d)[0]
    frequencies = 10000.0 ** (-np.arange(0, d, 2) / d)
    rotation = np.zeros((d, d))
    for i, w in enumerate(frequencies):
        c, s = np.cos(k * w), np.sin(k * w)
        # [sin(a+b), cos(a+b)] = [[cos b, sin b], [-sin b, cos b]] [sin a, cos a]
        rotation[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[c, s], [-s, c]]
    np.testing.assert_allclose(pe[k:], pe[:-k] @ rotation.T, atol=2e-6)


def test_dot_product_depends_only_on_offset():
    d = 32
    pe = encoding_of(SinusoidalEncoding(), 1, 1000, d)[0]
    frequencies = 10000.0 ** (-np.arange(0, d, 2) / d)
    for k in [0, 1, 5, 100]:
        dots = np.sum(pe[: 1000 - k] * pe[k:], axis=-1)
        np.testing.assert_allclose(dots, np.sum(np.cos(k * frequencies)), atol=1e-5)


# Precision.


def test_float32_precision_every_position_to_100000_and_the_last():
    positions = np.concatenate([np.arange(100_001), np.arange(262_000, 262_144)])
    layer = SinusoidalEncoding()
    got = encoding_of(layer, 1, len(positions), 64, positions=positions)[0]
    error = np.abs(got - reference_encoding(positions, 64))
    assert error.max() <= F32, error.max()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("layout", ["interleaved", "concatenated"])
def test_mixed_precision_values(policy, layout):
    keras.config.set_dtype_policy(policy)
    layer = SinusoidalEncoding(layout=layout, add_to_inputs=False)
    positions = np.arange(0, 100_001, 7)
    got = layer(np.zeros((1, len(positions), 32), "float32"), positions=positions)
    compute_dtype = policy.split("_")[1]
    assert keras.backend.standardize_dtype(got.dtype) == compute_dtype
    error = np.abs(to_numpy(got) - reference_encoding(positions, 32, layout=layout))
    assert error.max() <= TWO_ULP[compute_dtype], error.max()


@pytest.mark.backends("tensorflow", "torch")  # JAX computes in float32 unless x64 is on.
def test_float64_layer_is_more_precise_than_float32():
    layer = SinusoidalEncoding(dtype="float64")
    positions = np.arange(0, 100_001, 13)
    got = encoding_of(layer, 1, len(positions), 16, dtype="float64", positions=positions)[0]
    assert np.abs(got - reference_encoding(positions, 16)).max() < 1e-10


# Execution paths and masks.


def test_compiled_matches_eager():
    layer = SinusoidalEncoding()
    x = np.random.default_rng(1).normal(size=(2, 30, 8)).astype("float32")
    eager = to_numpy(layer(x, start_index=4))
    function = compiled(lambda x, s: layer(x, start_index=s))
    start = keras.ops.convert_to_tensor(4, "int32")
    np.testing.assert_allclose(
        to_numpy(function(keras.ops.convert_to_tensor(x), start)), eager, atol=1e-6
    )


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tf_function_matches_eager(jit_compile):
    import tensorflow as tf

    layer = SinusoidalEncoding()
    x = np.random.default_rng(1).normal(size=(2, 30, 8)).astype("float32")
    eager = layer(x, start_index=4)
    compiled = tf.function(lambda x, s: layer(x, start_index=s), jit_compile=jit_compile)(
        tf.constant(x), tf.constant(4)
    )
    np.testing.assert_allclose(compiled, eager, atol=1e-6)


@pytest.mark.backends("tensorflow")
def test_unknown_sequence_length_in_graph():
    import tensorflow as tf

    layer = SinusoidalEncoding()
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 6), tf.float32)])
    for length in (3, 17):
        np.testing.assert_allclose(
            fn(tf.zeros((1, length, 6)))[0], reference_encoding(np.arange(length), 6), atol=F32
        )


# Bad input.


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_wavelength": 0}, "max_wavelength=0"),
        ({"max_wavelength": -5.0}, "max_wavelength=-5.0"),
        ({"max_wavelength": "big"}, "max_wavelength='big'"),
        (
            {"max_wavelength": float("inf")},
            "must be a positive finite number; received max_wavelength=inf",
        ),
        ({"max_wavelength": float("nan")}, "max_wavelength=nan"),
        ({"layout": "sideways"}, "layout='sideways'"),
        ({"scale_inputs": "yes"}, "scale_inputs='yes'"),
        ({"add_to_inputs": 1}, "add_to_inputs=1"),
        ({"scale_inputs": True, "add_to_inputs": False}, "add_to_inputs=False"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SinusoidalEncoding(**kwargs)


@pytest.mark.parametrize(
    "inputs, match",
    [
        (np.zeros((4, 8), "float32"), "rank 3"),
        (np.zeros((2, 4, 8), "int32"), "inputs.dtype=int32"),
        (np.array([[["a"]]]), "inputs.dtype=string"),
    ],
)
def test_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        SinusoidalEncoding()(inputs)


def test_feature_width_must_match_build():
    layer = SinusoidalEncoding()
    layer(np.zeros((1, 4, 8), "float32"))
    with pytest.raises(ValueError, match="built for inputs with 8 features"):
        layer(np.zeros((1, 4, 6), "float32"))


@pytest.mark.parametrize(
    "call_kwargs, match",
    [
        ({"start_index": -1}, "start_index=-1"),
        ({"start_index": 1.5}, "start_index=1.5"),
        ({"start_index": True}, "start_index=True"),
        ({"start_index": np.int32(-3)}, "smallest position -3"),
        ({"positions": np.array([0.0, 1.0, 2.0])}, "dtype float"),
        ({"positions": np.zeros((1, 1, 3), "int32")}, r"shape \(1, 1, 3\)"),
        (
            {"positions": np.array([0, 1, 5])},
            r"`positions` of shape \(3,\) do not match inputs.shape=\(1, 2, 8\)",
        ),
        ({"positions": np.array([0, -1, 2, 3])}, "smallest position -1"),
        ({"positions": np.array([0, 1, 2, 262_144])}, "largest position 262144"),
    ],
)
def test_bad_call_arguments(call_kwargs, match):
    x = np.zeros((1, 4, 8), "float32")
    if "positions" in call_kwargs and len(call_kwargs["positions"]) == 3:
        x = x[:, :2]  # Positions and sequence lengths disagree.
    with pytest.raises(ValueError, match=match):
        SinusoidalEncoding()(x, **call_kwargs)


@pytest.mark.backends("tensorflow")
def test_run_time_errors_in_graph_and_nan_under_xla():
    import tensorflow as tf

    layer = SinusoidalEncoding()
    x = tf.zeros((1, 4, 8))
    graph = tf.function(lambda x, s: layer(x, start_index=s))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"smallest position \W*-2\W"):
        graph(x, tf.constant(-2))
    # XLA compiles assertions away; the result is NaN, never a wrong number.
    xla = tf.function(lambda x, s: layer(x, start_index=s), jit_compile=True)
    assert np.isnan(xla(x, tf.constant(-2))).all()
    assert np.isfinite(xla(x, tf.constant(2))).all()


def test_a_negative_start_tensor_is_out_of_range_on_every_backend():
    start = keras.ops.convert_to_tensor(-3, "int32")
    with pytest.raises(PositionRangeError, match="smallest position -3"):
        SinusoidalEncoding()(np.zeros((1, 4, 8), "float32"), start_index=start)


@pytest.mark.backends("jax")
def test_jax_jit_raises_for_static_positions_and_gives_nan_for_traced_ones():
    import jax

    layer = SinusoidalEncoding()
    x = np.zeros((1, 4, 8), "float32")
    static = jax.jit(lambda x: layer(x, start_index=262_142))
    with pytest.raises(PositionRangeError, match="largest position 262145"):
        static(x)
    traced = jax.jit(lambda x, s: layer(x, start_index=s))
    assert np.isnan(to_numpy(traced(x, -2))).all()
    np.testing.assert_allclose(
        to_numpy(traced(x, 2))[0], reference_encoding(np.arange(2, 6), 8), atol=F32
    )


@pytest.mark.backends("torch")
def test_torch_compile_raises_for_out_of_range_positions():
    import torch

    layer = SinusoidalEncoding()
    function = torch.compile(lambda x, s: layer(x, start_index=s), backend="aot_eager")
    x = torch.zeros(1, 4, 8)
    with pytest.raises(PositionRangeError, match="smallest position -2"):
        function(x, torch.tensor(-2))


def test_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    run_layer_test(
        lambda: SinusoidalEncoding(max_wavelength=500, layout="concatenated", scale_inputs=True),
        x, {"start_index": 3}, tmp_path=tmp_path, mask=np.array([[1] * 6, [1, 1, 1, 0, 0, 0]], bool),
    )  # fmt: skip
