import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import to_numpy

from keras_posemb import AlibiBias
from keras_posemb.layers import alibi_slopes

pytestmark = pytest.mark.all_backends


def test_slopes_for_eight_heads_are_the_powers_of_one_half():
    np.testing.assert_array_equal(alibi_slopes(8), [2.0**-k for k in range(1, 9)])
    np.testing.assert_array_equal(alibi_slopes(4, alibi_bias_max=4), [2.0**-k for k in range(1, 5)])


def test_slopes_for_six_heads_follow_the_paper():
    # The 4 slopes of 4 heads (2^-2, 2^-4, 2^-6, 2^-8), then every other slope
    # of 8 heads (2^-1, 2^-3, ...), the first two of them.
    np.testing.assert_array_equal(alibi_slopes(6), [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3])


def hand_bias(slopes, queries, keys, bidirectional):
    """-m |i - j|, or causal: -m (i - j), and -1e9 for a key after its query."""

    def one(m, i, j):
        if bidirectional:
            return -m * abs(i - j)
        return -1e9 if j > i else -m * (i - j)

    return np.array([[[one(m, i, j) for j in keys] for i in queries] for m in slopes])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_adds_the_distance_penalty(bidirectional):
    scores = np.random.default_rng(0).normal(size=(2, 4, 3, 5)).astype("float32")
    got = to_numpy(AlibiBias(bidirectional=bidirectional)(scores))
    want = scores + hand_bias([2**-2, 2**-4, 2**-6, 2**-8], range(3), range(5), bidirectional)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_split_heads_look_one_way_each():
    scores = np.zeros((1, 4, 3, 3), "float32")
    got = to_numpy(AlibiBias(split_heads=True)(scores))[0]
    half = [2**-4, 2**-8]  # The slopes of 2 heads, for each half.
    want = hand_bias(half + half, range(3), range(3), True)
    i, j = np.meshgrid(range(3), range(3), indexing="ij")
    other_side = np.stack([j > i, j > i, j < i, j < i])
    np.testing.assert_allclose(got, np.where(other_side, -1e9, want), atol=1e-6)


def test_start_index_places_the_queries_after_the_cache():
    scores = np.zeros((1, 2, 1, 6), "float32")  # One new token, six cached keys.
    got = to_numpy(AlibiBias(bidirectional=False)(scores, start_index=5))
    np.testing.assert_allclose(got[0], hand_bias([2**-4, 2**-8], [5], range(6), False), atol=1e-7)


def test_positions_skip_left_padding():
    scores = np.zeros((2, 2, 3, 3), "float32")
    positions = np.array([[0, 0, 1], [0, 1, 2]])
    got = to_numpy(AlibiBias()(scores, positions=positions))
    for b in range(2):
        want = hand_bias([2**-4, 2**-8], positions[b], positions[b], True)
        np.testing.assert_allclose(got[b], want, atol=1e-7)


def test_dtype_follows_the_scores():
    keras.config.set_dtype_policy("mixed_bfloat16")
    scores = keras.ops.zeros((1, 2, 3, 3), "float32")
    got = AlibiBias(dtype="float32")(scores)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alibi_bias_max": 0}, "alibi_bias_max=0"),
        ({"bidirectional": "yes"}, "bidirectional='yes'"),
        ({"split_heads": 1}, "split_heads=1"),
        ({"split_heads": True, "bidirectional": False}, r"`split_heads` must be False .*causal"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlibiBias(**kwargs)


def test_split_heads_need_an_even_head_count():
    with pytest.raises(
        ValueError,
        match=r"`num_heads` must be even for ALiBi with split heads .*; received num_heads=3\.",
    ):
        AlibiBias(split_heads=True)(np.zeros((1, 3, 2, 2), "float32"))


@pytest.mark.parametrize(
    "scores, kwargs, match",
    [
        (np.zeros((2, 3, 3), "float32"), {}, r"\(batch, heads, query, key\)"),
        (np.zeros((1, 2, 3, 3), "int32"), {}, "attention_scores.dtype=int32"),
        (
            np.zeros((1, 2, 2, 3), "float32"),
            {"positions": np.array([0, 1])},
            "as many keys as queries",
        ),  # noqa: E501
        (np.zeros((1, 2, 2, 2), "float32"), {"start_index": -1}, "start_index=-1"),
    ],
)
def test_bad_inputs(scores, kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlibiBias()(scores, **kwargs)


@pytest.mark.parametrize("kwargs", [
    {"alibi_bias_max": 4, "bidirectional": False}, {"split_heads": True}, {},
])  # fmt: skip
def test_layer_contract(kwargs, tmp_path):
    scores = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype("float32")
    run_layer_test(lambda: AlibiBias(**kwargs), scores, tmp_path=tmp_path, reload=not kwargs)


def test_the_causal_form_used_alone_masks_later_keys():
    """On zero scores the causal bias must not add +m, +2m above the diagonal."""
    got = to_numpy(AlibiBias(bidirectional=False)(np.zeros((1, 2, 4, 4), "float32")))[0]
    i, j = np.meshgrid(range(4), range(4), indexing="ij")
    assert np.all(got[:, j > i] == -1e9)
    np.testing.assert_allclose(got, hand_bias([2**-4, 2**-8], range(4), range(4), False), atol=1e-6)
