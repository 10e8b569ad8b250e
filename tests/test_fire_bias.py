import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import reference_bias_table, reference_fire_bias, to_numpy

from keras_posemb import FireBias

pytestmark = pytest.mark.all_backends


def reference_bias(layer, queries, keys):
    """`(heads, query, key)` from the float64 formula; -1e9 for masked keys."""
    weights = layer.get_weights()

    def bias_of(i, j):
        return reference_fire_bias(weights, i, j, layer.bidirectional)

    return reference_bias_table(bias_of, queries, keys, heads=weights[-1].shape[0])


def random_weights(layer, seed=0):
    """Random MLP weights, with c and L kept near their initial values."""
    rng = np.random.default_rng(seed)
    log_c, log_threshold, *mlp = layer.get_weights()
    layer.set_weights(
        [log_c + np.float32(0.3), log_threshold - np.float32(0.2)]
        + [rng.normal(size=w.shape).astype("float32") for w in mlp]
    )


@pytest.mark.parametrize("bidirectional", [True, False])
def test_adds_the_mlp_of_the_normalized_distance(bidirectional):
    scores = np.random.default_rng(1).normal(size=(2, 3, 9, 9)).astype("float32")
    layer = FireBias(threshold=4, bidirectional=bidirectional)
    layer.build(scores.shape)
    random_weights(layer)
    got = to_numpy(layer(scores))
    want = scores + reference_bias(layer, range(9), range(9))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_first_key_is_at_distance_one_for_every_query_beyond_the_threshold():
    # psi(i - 0) / psi(max(L, i)) = 1 once i >= L, whatever the length: the
    # interpolation keeps every distance inside what training saw.
    layer = FireBias(threshold=8, bidirectional=False)
    layer.build((1, 2, 1, 1))
    queries = np.array([3, 8, 100, 10_000])
    x = to_numpy(layer.normalized_distance(queries, np.array([0])))[:, 0]
    np.testing.assert_allclose(x, [np.log1p(0.3) / np.log1p(0.8), 1, 1, 1], rtol=1e-6)


def test_start_index_and_positions_place_the_queries():
    layer = FireBias(threshold=3, bidirectional=False)
    layer.build((1, 2, 1, 6))
    random_weights(layer, seed=3)
    got = to_numpy(layer(np.zeros((1, 2, 1, 6), "float32"), start_index=5))
    np.testing.assert_allclose(got[0], reference_bias(layer, [5], range(6)), rtol=1e-5)
    positions = np.array([[0, 0, 1], [0, 1, 2]])
    got = to_numpy(layer(np.zeros((2, 2, 3, 3), "float32"), positions=positions))
    for b in range(2):
        want = reference_bias(layer, positions[b], positions[b])
        np.testing.assert_allclose(got[b], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": 0}, "threshold=0"),
        ({"c": -0.1}, "c=-0.1"),
        ({"mlp_width": 0}, "mlp_width=0"),
        ({"mlp_width": 2.5}, "mlp_width=2.5"),
        ({"bidirectional": None}, "bidirectional=None"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FireBias(**kwargs)


@pytest.mark.parametrize("kwargs", [{"bidirectional": False, "threshold": 3}, {}])
def test_layer_contract(kwargs, tmp_path):
    scores = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype("float32")
    run_layer_test(lambda: FireBias(**kwargs), scores, tmp_path=tmp_path, reload=bool(kwargs))
