import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import reference_t5_bucket, to_numpy

from keras_posemb import RelativePositionBias
from keras_posemb.layers import relative_position_buckets

pytestmark = pytest.mark.all_backends


def bucket_of(layer, offset):
    return int(to_numpy(layer.bucket(keras.ops.convert_to_tensor([offset], "int32")), np.int64)[0])


def test_the_default_buckets_of_t5():
    layer = RelativePositionBias(num_heads=2)
    for offset in range(8):  # Keys up to 7 before the query: one bucket each.
        assert bucket_of(layer, -offset) == offset
    hand = {-16: 10, -64: 14, -128: 15, -1000: 15, 1: 17, 128: 31, 5000: 31}
    assert {offset: bucket_of(layer, offset) for offset in hand} == hand


@pytest.mark.parametrize(
    "num_buckets, max_distance, bidirectional", [(32, 128, True), (16, 40, True), (8, 20, False)]
)  # noqa: E501
def test_buckets_match_the_papers_formula(num_buckets, max_distance, bidirectional):
    layer = RelativePositionBias(2, num_buckets, max_distance, bidirectional)
    offsets = np.arange(-300, 301)
    got = to_numpy(layer.bucket(keras.ops.convert_to_tensor(offsets, "int32")), np.int64)
    want = [reference_t5_bucket(int(o), num_buckets, max_distance, bidirectional) for o in offsets]
    np.testing.assert_array_equal(got, want)
    assert relative_position_buckets(num_buckets, max_distance, bidirectional).max() < num_buckets


def test_the_bias_is_the_table_at_the_bucket_of_the_offset():
    layer = RelativePositionBias(num_heads=3)
    scores = np.random.default_rng(0).normal(size=(2, 3, 4, 6)).astype("float32")
    layer.build(scores.shape)
    table = np.arange(32 * 3, dtype="float32").reshape(32, 3) * 0.5  # Known values.
    layer.set_weights([table])
    got = to_numpy(layer(scores))
    for h in range(3):
        for i in range(4):
            for j in range(6):
                want = scores[:, h, i, j] + table[reference_t5_bucket(j - i), h]
                np.testing.assert_allclose(got[:, h, i, j], want, atol=1e-6)


def test_causal_form_puts_later_keys_in_bucket_zero():
    layer = RelativePositionBias(num_heads=1, num_buckets=8, max_distance=20, bidirectional=False)
    assert [bucket_of(layer, offset) for offset in (1, 5, 0, -1, -3)] == [0, 0, 0, 1, 3]


def test_start_index_and_positions():
    layer = RelativePositionBias(num_heads=1)
    layer.build((None, 1, None, None))
    layer.set_weights([np.arange(32, dtype="float32")[:, None]])
    got = to_numpy(layer(np.zeros((1, 1, 1, 4), "float32"), start_index=3))[0, 0, 0]
    np.testing.assert_array_equal(got, [reference_t5_bucket(j - 3) for j in range(4)])
    positions = np.array([[0, 0, 1]])  # Left padding.
    got = to_numpy(layer(np.zeros((1, 1, 3, 3), "float32"), positions=positions))[0, 0]
    want = [[reference_t5_bucket(int(k - q)) for k in positions[0]] for q in positions[0]]
    np.testing.assert_array_equal(got, want)


def test_the_table_is_trained():
    scores = keras.Input(shape=(2, 5, 5))
    layer = RelativePositionBias(num_heads=2, embeddings_initializer="zeros")
    model = keras.Model(scores, keras.layers.Flatten()(layer(scores)))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.zeros((8, 2, 5, 5)), np.ones((8, 50)), epochs=2, verbose=0)
    table = layer.get_weights()[0]
    assert table.shape == (32, 2) and np.abs(table).max() > 0


def test_the_table_starts_random_with_a_spread_of_two():
    # Not zero: a table that starts flat treats every offset alike.
    layer = RelativePositionBias(num_heads=8, num_buckets=64)
    layer(np.zeros((1, 8, 2, 2), "float32"))
    table = layer.get_weights()[0]
    assert 1.7 < table.std() < 2.3 and abs(table.mean()) < 0.4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads=0"),
        ({"num_heads": 2, "num_buckets": 31}, "num_buckets=31"),
        ({"num_heads": 2, "num_buckets": 2}, "num_buckets=2"),
        ({"num_heads": 2, "max_distance": 4}, "max_distance=4"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RelativePositionBias(**kwargs)


def test_heads_must_match():
    with pytest.raises(ValueError, match="num_heads=2"):
        RelativePositionBias(num_heads=2)(np.zeros((1, 3, 2, 2), "float32"))


@pytest.mark.parametrize("bidirectional", [True, False])
def test_layer_contract(bidirectional, tmp_path):
    scores = np.random.default_rng(0).normal(size=(2, 4, 5, 5)).astype("float32")
    make = lambda: RelativePositionBias(4, 16, 64, bidirectional)  # noqa: E731
    run_layer_test(make, scores, {"start_index": 2}, tmp_path=tmp_path, trains=True)
    assert make()(scores).shape == scores.shape


def test_the_causal_form_used_alone_masks_later_keys():
    layer = RelativePositionBias(num_heads=2, bidirectional=False)
    got = to_numpy(layer(np.zeros((1, 2, 4, 4), "float32")))[0]
    i, j = np.meshgrid(range(4), range(4), indexing="ij")
    assert np.all(got[:, j > i] == -1e9) and np.all(got[:, j <= i] > -1e8)
