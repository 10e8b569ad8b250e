import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import reference_bias_table, reference_kerple_bias, to_numpy

from keras_posemb import AlibiBias, KerpleBias

pytestmark = pytest.mark.all_backends


def reference_bias(layer, queries, keys):
    """`(heads, query, key)` from the float64 formula; -1e9 for masked keys."""
    log_r1, log_r2 = layer.get_weights()

    def bias_of(i, j):
        return reference_kerple_bias(log_r1, log_r2, i, j, layer.bidirectional)

    return reference_bias_table(bias_of, queries, keys, heads=log_r1.shape[1])


def random_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_adds_the_log_distance_penalty(bidirectional):
    scores = np.random.default_rng(1).normal(size=(2, 4, 6, 6)).astype("float32")
    layer = KerpleBias(bidirectional=bidirectional)
    layer.build(scores.shape)
    random_weights(layer)
    got = to_numpy(layer(scores))
    np.testing.assert_allclose(got, scores + reference_bias(layer, range(6), range(6)), atol=1e-5)


def test_starts_as_alibi_near_the_query_and_as_a_logarithm_far_from_it():
    # r1 = 1, r2 = ALiBi's slope m: -log(1 + m d), by hand for 4 heads (m = 2^-2 .. 2^-8).
    got = to_numpy(
        KerpleBias(bidirectional=False)(np.zeros((1, 4, 1, 1001), "float32"), start_index=1000)
    )
    slopes = np.array([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8])[:, None]
    distance = 1000 - np.arange(1001)
    np.testing.assert_allclose(got[0, :, 0], -np.log1p(slopes * distance), rtol=1e-6)
    alibi = to_numpy(
        AlibiBias(bidirectional=False)(np.zeros((1, 4, 1, 1001), "float32"), start_index=1000)
    )
    near = slice(999, None)  # One key away: within m^2 / 2 of ALiBi's -m.
    np.testing.assert_allclose(got[0, :, 0, near], alibi[0, :, 0, near], atol=2.0**-5)
    assert np.all(got[0, :, 0, 0] > alibi[0, :, 0, 0] + 1)  # Far keys stay reachable.


def test_the_bidirectional_form_tells_a_sequence_from_its_mirror_image():
    layer = KerpleBias()
    scores = np.zeros((1, 2, 5, 5), "float32")
    layer.build(scores.shape)
    random_weights(layer, seed=2)
    bias = to_numpy(layer(scores))[0]
    assert not np.allclose(bias, np.swapaxes(bias, -1, -2))  # Before and after differ.


def test_start_index_and_positions_place_the_queries():
    layer = KerpleBias(bidirectional=False)
    layer.build((1, 2, 1, 6))
    random_weights(layer, seed=3)
    got = to_numpy(layer(np.zeros((1, 2, 1, 6), "float32"), start_index=5))
    np.testing.assert_allclose(got[0], reference_bias(layer, [5], range(6)), rtol=1e-5)
    positions = np.array([[0, 0, 1], [0, 1, 2]])
    got = to_numpy(layer(np.zeros((2, 2, 3, 3), "float32"), positions=positions))
    for b in range(2):
        want = reference_bias(layer, positions[b], positions[b])
        np.testing.assert_allclose(got[b], want, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bidirectional": "no"}, "bidirectional='no'"),
        ({"alibi_bias_max": -1}, "alibi_bias_max=-1"),
        ({"alibi_bias_max": float("inf")}, "alibi_bias_max=inf"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KerpleBias(**kwargs)


@pytest.mark.parametrize("kwargs", [{"bidirectional": False}, {}])
def test_layer_contract(kwargs, tmp_path):
    scores = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype("float32")
    run_layer_test(lambda: KerpleBias(**kwargs), scores, tmp_path=tmp_path, reload=bool(kwargs))
