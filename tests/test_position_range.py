"""Positions are range-checked in the dtype they come in, before any cast to
int32: 2**32 + i is never taken for i, on any backend or path, by any layer
that takes positions."""

import keras
import numpy as np
import pytest

from keras_posemb import (
    AlibiBias,
    PositionEmbedding,
    PositionRangeError,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalEncoding,
)

pytestmark = pytest.mark.all_backends
BACKEND = keras.backend.backend()

# (layer, the tensor it is called on)
LAYERS = {
    "PositionEmbedding": (lambda: PositionEmbedding(8), (1, 3, 4)),
    "SinusoidalEncoding": (SinusoidalEncoding, (1, 3, 4)),
    "RotaryEmbedding": (RotaryEmbedding, (1, 3, 2, 4)),
    "AlibiBias": (AlibiBias, (1, 2, 3, 3)),
    "RelativePositionBias": (lambda: RelativePositionBias(2), (1, 2, 3, 3)),
}
HUGE = {
    "int64 2**32 + i": np.arange(3, dtype="int64") + 2**32,
    "int64 -2**32 + i": np.arange(3, dtype="int64") - 2**32,
    "uint64 2**63 + i": np.arange(3, dtype="uint64") + np.uint64(2**63),
    "uint32 2**31 + i": np.arange(3, dtype="uint32") + np.uint32(2**31),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("case", HUGE)
def test_numpy_positions_past_int32_are_refused(name, case):
    make, shape = LAYERS[name]
    with pytest.raises(PositionRangeError, match="positions must lie in"):
        make()(np.zeros(shape, "float32"), positions=HUGE[case])


@pytest.mark.backends("tensorflow", "torch")  # JAX without x64 has no int64 tensors.
@pytest.mark.parametrize("name", LAYERS)
def test_int64_tensors_past_int32_are_refused(name):
    make, shape = LAYERS[name]
    x = np.zeros(shape, "float32")
    positions = keras.ops.convert_to_tensor(np.arange(3) + 2**32, "int64")
    with pytest.raises(PositionRangeError, match=r"smallest position 4294967296"):
        make()(x, positions=positions)
    start = keras.ops.convert_to_tensor(2**32, "int64")
    with pytest.raises(PositionRangeError, match=r"4294967296"):
        make()(x, start_index=start)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("name", LAYERS)
def test_int64_positions_past_int32_raise_inside_tf_function(name):
    import tensorflow as tf

    make, shape = LAYERS[name]
    layer, x = make(), np.zeros(shape, "float32")
    by_positions = tf.function(lambda p: layer(x, positions=p))
    by_start = tf.function(lambda s: layer(x, start_index=s))
    with pytest.raises(tf.errors.InvalidArgumentError, match="positions must lie in"):
        by_positions(tf.constant(np.arange(3) + 2**32, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="positions must lie in"):
        by_start(tf.constant(2**32, tf.int64))
    # In range, the same functions run.
    assert by_start(tf.constant(1, tf.int64)).shape == shape


@pytest.mark.parametrize("name", LAYERS)
def test_int64_positions_in_range_give_the_int32_result(name):
    make, shape = LAYERS[name]
    layer, x = make(), np.random.default_rng(0).normal(size=shape).astype("float32")
    wide = keras.ops.convert_to_numpy(layer(x, positions=np.array([1, 5, 2], "int64")))
    narrow = keras.ops.convert_to_numpy(layer(x, positions=np.array([1, 5, 2], "int32")))
    np.testing.assert_array_equal(wide, narrow)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("kind", ["ragged", "sparse"])
def test_ragged_and_sparse_inputs_are_refused_naming_the_argument(kind):
    import tensorflow as tf

    from keras_posemb import AlibiBias, PositionalAttention, RotaryEmbedding, SinusoidalEncoding

    if kind == "ragged":
        x = tf.RaggedTensor.from_row_lengths(tf.zeros((5, 8)), [2, 3])
    else:
        x = tf.sparse.from_dense(tf.zeros((2, 3, 8)))
    for layer, name in [(SinusoidalEncoding(), "inputs"), (RotaryEmbedding(), "inputs"),
                        (AlibiBias(), "attention_scores"), (PositionalAttention(2, 4), "inputs")]:  # fmt: skip
        with pytest.raises(
            ValueError,
            match=rf"expects a dense `{name}` tensor; received a \w+Tensor of shape \(2, ",
        ):
            layer(x)
