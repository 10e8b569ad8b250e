import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import TWO_ULP, compiled, reference_rotation, to_numpy

from keras_posemb import PositionRangeError, RotaryEmbedding

pytestmark = pytest.mark.all_backends


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("layout", ["half", "interleaved"])
@pytest.mark.parametrize("scaling_factor", [1.0, 4.0])
def test_matches_the_float64_rotation(layout, scaling_factor):
    x = random(2, 50, 8)
    layer = RotaryEmbedding(max_wavelength=500, scaling_factor=scaling_factor, layout=layout)
    want = reference_rotation(x, np.arange(50), layout, 500, scaling_factor)
    np.testing.assert_allclose(to_numpy(layer(x)), want, atol=2e-6)


def test_heads_axis_and_a_sequence_axis_elsewhere():
    x = random(2, 7, 3, 6)  # (batch, sequence, heads, head_dim)
    want = np.stack([reference_rotation(x[:, :, h], np.arange(7)) for h in range(3)], axis=2)
    np.testing.assert_allclose(to_numpy(RotaryEmbedding()(x)), want, atol=2e-6)
    heads_first = np.transpose(x, (0, 2, 1, 3))  # (batch, heads, sequence, head_dim)
    got = to_numpy(RotaryEmbedding(sequence_axis=2)(heads_first))
    np.testing.assert_allclose(got, np.transpose(want, (0, 2, 1, 3)), atol=2e-6)
    features_first = np.transpose(x, (0, 3, 1, 2))  # (batch, head_dim, sequence, heads)
    got = to_numpy(RotaryEmbedding(sequence_axis=2, feature_axis=1)(features_first))
    np.testing.assert_allclose(got, np.transpose(want, (0, 3, 1, 2)), atol=2e-6)


def test_norms_are_preserved():
    x = random(3, 40, 16, seed=1)
    got = to_numpy(RotaryEmbedding(layout="interleaved")(x, start_index=1000))
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_query_key_dot_products_depend_only_on_the_offset(layout):
    layer = RotaryEmbedding(layout=layout)
    query, key = random(1, 1, 16, seed=2), random(1, 1, 16, seed=3)

    def dot(m, n):
        q = to_numpy(layer(query, start_index=m))
        k = to_numpy(layer(key, start_index=n))
        return float(np.sum(q * k))

    for offset in (0, 3, 17):
        dots = [dot(m, m + offset) for m in (0, 5, 100, 20_000)]
        np.testing.assert_allclose(dots, dots[0], atol=1e-5)
    assert abs(dot(0, 3) - dot(0, 17)) > 1e-3  # Different offsets, different scores.


def test_start_index_and_positions_agree():
    layer = RotaryEmbedding()
    x = random(2, 5, 8, seed=4)
    by_start = to_numpy(layer(x, start_index=7))
    by_positions = to_numpy(layer(x, positions=np.arange(7, 12)))
    np.testing.assert_array_equal(by_start, by_positions)
    start_tensor = keras.ops.convert_to_tensor(7, "int32")
    np.testing.assert_allclose(to_numpy(layer(x, start_index=start_tensor)), by_start, atol=1e-7)
    per_example = np.array([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]])  # Left padding in the first.
    got = to_numpy(layer(x, positions=per_example))
    for b in range(2):
        np.testing.assert_allclose(got[b], reference_rotation(x[b], per_example[b]), atol=2e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_angles_are_exact_to_two_ulp_at_every_position(dtype):
    """Rotating the first unit vector of each pair gives (cos, sin) of the
    angles themselves, here compared with float64 NumPy."""
    positions = np.concatenate([np.arange(0, 262_144, 3), np.arange(262_000, 262_144)])
    width = 32
    unit = np.zeros((1, len(positions), width), dtype)
    unit[..., : width // 2] = 1  # In the half layout: pair i is (i, i + d/2).
    layer = RotaryEmbedding(dtype=dtype)
    got = to_numpy(layer(unit, positions=positions))[0]
    angles = np.outer(positions, 10000.0 ** (-2 * np.arange(width // 2) / width))
    error = np.abs(got - np.concatenate([np.cos(angles), np.sin(angles)], axis=1))
    assert error.max() <= TWO_ULP[dtype], error.max()


def test_mixed_precision_computes_in_the_compute_dtype():
    keras.config.set_dtype_policy("mixed_bfloat16")
    got = RotaryEmbedding()(random(1, 4, 8))
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"


def test_compiled_matches_eager():
    layer = RotaryEmbedding()
    x = random(2, 9, 8, seed=5)
    function = compiled(lambda x, s: layer(x, start_index=s))
    got = function(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(3, "int32"))
    np.testing.assert_allclose(to_numpy(got), to_numpy(layer(x, start_index=3)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_wavelength": 0}, "max_wavelength=0"),
        ({"max_wavelength": float("inf")}, "max_wavelength=inf"),
        ({"scaling_factor": 0.0}, "scaling_factor=0.0"),
        ({"layout": "pairs"}, "layout='pairs'"),
        ({"sequence_axis": 1.5}, "sequence_axis=1.5"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RotaryEmbedding(**kwargs)


@pytest.mark.parametrize(
    "inputs, kwargs, match",
    [
        (np.zeros((1, 4, 7), "float32"), {}, "known even size"),
        (np.zeros((1, 4), "float32"), {}, "rank >= 3"),
        (np.zeros((1, 4, 8), "float32"), {"sequence_axis": 0}, "other than the batch axis"),
        (np.zeros((1, 4, 8), "float32"), {"feature_axis": 3}, "feature_axis=3"),
    ],
)
def test_bad_inputs(inputs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        RotaryEmbedding(**kwargs)(inputs)


def test_positions_out_of_range_raise():
    layer = RotaryEmbedding()
    x = np.zeros((1, 4, 8), "float32")
    with pytest.raises(PositionRangeError, match=r"\[0, 262144\).*largest position 262145"):
        layer(x, start_index=262_142)
    with pytest.raises(PositionRangeError, match="smallest position -1"):
        layer(x, positions=np.array([0, -1, 2, 3]))
    with pytest.raises(ValueError, match="start_index=-2"):
        layer(x, start_index=-2)


def test_layer_contract(tmp_path):
    x = random(2, 4, 5, 3)
    make = lambda: RotaryEmbedding(500, 2.0, "interleaved", sequence_axis=2, feature_axis=1)  # noqa: E731
    run_layer_test(make, x, {"start_index": 1}, tmp_path=tmp_path)
    run_layer_test(RotaryEmbedding, random(2, 7, 2, 8), tmp_path=tmp_path, reload=False)
