import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import to_numpy

from keras_posemb.modeling import Scale

pytestmark = pytest.mark.all_backends


def test_multiplies_and_keeps_the_mask_and_dtype():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_allclose(to_numpy(Scale(2.5)(x)), x * 2.5, rtol=1e-6)
    tokens = keras.Input(shape=(None,), dtype="int32")
    scaled = Scale(3.0)(keras.layers.Embedding(10, 4, mask_zero=True)(tokens))
    model = keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(scaled))
    ids = np.array([[1, 2, 0, 0]])
    table = model.layers[1].get_weights()[0]
    np.testing.assert_allclose(to_numpy(model(ids))[0], 3 * table[[1, 2]].mean(axis=0), rtol=1e-5)
    keras.config.set_dtype_policy("mixed_bfloat16")
    assert keras.backend.standardize_dtype(Scale(2.0)(x).dtype) == "bfloat16"


@pytest.mark.parametrize("factor", ["2", float("inf"), None, True])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match=f"factor={factor!r}"):
        Scale(factor)


def test_layer_contract(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    run_layer_test(
        lambda: Scale(1.5), x, tmp_path=tmp_path, mask=np.array([[1, 1, 0], [1, 1, 1]], bool)
    )
