import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import to_numpy

from keras_posemb.modeling import TokenDropout

pytestmark = pytest.mark.all_backends


def test_replaces_real_tokens_at_the_rate_in_training_only():
    ids = np.random.default_rng(0).integers(2, 100, size=(64, 100)).astype("int32")
    ids[:, 80:] = 0
    layer = TokenDropout(0.25, seed=1)
    np.testing.assert_array_equal(to_numpy(layer(ids), np.int64), ids)  # Inference.
    dropped = to_numpy(layer(ids, training=True), np.int64)
    changed = dropped != ids
    assert np.all(dropped[changed] == 1) and not changed[:, 80:].any()  # Padding stays.
    assert changed[:, :80].mean() == pytest.approx(0.25, abs=0.02)
    again = to_numpy(layer(ids, training=True), np.int64)
    assert not np.array_equal(again, dropped)  # New draws each call.


def test_in_a_model():
    tokens = keras.Input(shape=(None,), dtype="int32")
    x = TokenDropout(0.5, replacement_id=7, seed=3)(tokens)
    model = keras.Model(tokens, keras.layers.Embedding(10, 2)(x))
    assert model(np.ones((2, 3), "int32")).shape == (2, 3, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rate": 1.0}, "rate=1.0"), ({"rate": 0.1, "replacement_id": -1}, "replacement_id=-1")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenDropout(**kwargs)


def test_layer_contract(tmp_path):
    ids = np.random.default_rng(0).integers(2, 9, (3, 6)).astype("int32")
    make = lambda: TokenDropout(0.1, replacement_id=5, padding_id=2, seed=4)  # noqa: E731
    run_layer_test(make, ids, tmp_path=tmp_path)
