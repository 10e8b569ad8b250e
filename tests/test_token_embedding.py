"""Token ids: integers in [0, vocabulary), the same on every backend (issue 18, item 8)."""

import keras
import numpy as np
import pytest
from conftest import BACKEND
from layer_contract import run_layer_test
from reference import to_numpy

from keras_posemb.errors import TokenIdError
from keras_posemb.modeling import TokenEmbedding
from keras_posemb.models import build_text_classifier

pytestmark = pytest.mark.all_backends

VOCAB = 10


def test_layer_contract_and_rows_of_the_table(tmp_path):
    ids = np.random.default_rng(0).integers(0, VOCAB, (3, 6)).astype("int32")
    make = lambda: TokenEmbedding(VOCAB, 4, name="tokens")  # noqa: E731
    run_layer_test(make, ids, tmp_path=tmp_path)
    layer = make()
    got = to_numpy(layer(ids))
    np.testing.assert_array_equal(got, np.asarray(layer.get_weights()[0])[ids])


BAD_IDS = {
    "past the vocabulary": (np.array([[1, VOCAB, 3]]), r"must lie in \[0, 10\) .*largest id 10"),
    "negative": (np.array([[1, -2, 3]]), r"must lie in \[0, 10\) .*smallest id -2"),
    "2**32 + 2, int64": (
        np.array([[1, 2**32 + 2, 3]], "int64"),
        r"must lie in .*largest id 4294967298",
    ),
    "float": (np.array([[1.5, 2.0, 3.0]]), r"must be integers; received dtype float(64|32)"),
}


@pytest.mark.parametrize("case", list(BAD_IDS))
def test_bad_ids_known_at_the_call_are_refused_by_the_layer_and_the_model(case):
    ids, match = BAD_IDS[case]
    with pytest.raises(TokenIdError, match=r"TokenEmbedding 'tokens': token ids " + match):
        TokenEmbedding(VOCAB, 4, name="tokens")(ids)
    model = build_text_classifier(VOCAB, 2, 8, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    with pytest.raises(TokenIdError, match=match):
        model(ids)  # Before Keras casts them to the input's int32.
    if BACKEND == "torch":  # Keras' torch path runs eagerly: predict raises too.
        with pytest.raises(TokenIdError, match=match):
            model.predict(ids, verbose=0)


@pytest.mark.parametrize("case", ["past the vocabulary", "negative", "2**32 + 2, int64"])
def test_bad_ids_inside_compiled_functions_raise_or_give_nan_never_another_row(case):
    """TensorFlow graphs raise the same message; XLA and jax.jit give NaN."""
    ids = BAD_IDS[case][0]
    if BACKEND == "jax" and ids.dtype == np.int64 and ids.max() >= 2**31:
        pytest.skip("JAX without 64-bit mode narrows int64 NumPy ids in Keras' data adapter")
    model = build_text_classifier(VOCAB, 2, 8, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    model.compile(jit_compile=False)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        # The same message, with TensorFlow's brackets around the values.
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=r"token ids must lie in \[0, 10\)"
        ):
            model.predict(ids, verbose=0)
    if BACKEND in ("tensorflow", "jax"):
        model.compile(jit_compile=True)
        assert np.isnan(model.predict(ids, verbose=0)).all()


def test_a_float_tensor_of_ids_is_refused_when_traced():
    model = build_text_classifier(VOCAB, 2, 8, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    model.compile(jit_compile=True)
    with pytest.raises(TokenIdError, match=r"must be integers; received dtype float32"):
        model.predict(np.array([[1.5, 2.0]], "float32"), verbose=0)


def test_the_model_class_loads_with_safe_mode(tmp_path):
    model = build_text_classifier(VOCAB, 2, 8, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(loaded).__name__ == "TextClassifier"
    ids = np.array([[1, 2, 3, 0]], "int32")
    np.testing.assert_allclose(to_numpy(loaded(ids)), to_numpy(model(ids)), rtol=1e-6)
    with pytest.raises(TokenIdError):
        loaded(np.array([[VOCAB]]))


def test_an_empty_batch_gives_an_empty_answer_and_texts_of_no_tokens_are_refused():
    model = build_text_classifier(VOCAB, 2, 8, embed_dim=8, num_heads=2, ff_dim=8, num_layers=1)
    assert tuple(model(np.zeros((0, 5), "int32")).shape) == (0, 2)
    with pytest.raises(TokenIdError, match=r"token ids of shape \(2, 0\) hold texts of no tokens"):
        model(np.zeros((2, 0), "int32"))
