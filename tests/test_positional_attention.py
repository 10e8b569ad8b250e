import json

import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import (
    reference_bias_table,
    reference_fire_bias,
    reference_kerple_bias,
    reference_rotation,
    reference_t5_bucket,
    to_numpy,
)

from keras_posemb import (
    AlibiBias,
    PositionalAttention,
    RelativePositionBias,
    RotaryEmbedding,
    families,
)

pytestmark = pytest.mark.all_backends
HEADS, KEY_DIM, WIDTH = 2, 4, 6
# Every family that works inside attention, as registered.
ATTENTION_FAMILIES = [
    f.name for f in families.families().values() if f.where in ("attention", "none") and not f.grid
]
# The rotary extensions are rotary with frequencies that follow the length,
# all in one way: dynamic NTK stands for the others where a case compiles
# and trains; the others are compared eagerly.
COMPILED_FAMILIES = [
    f for f in ATTENTION_FAMILIES if families.families()[f].variant_of is None or f == "rotary_ntk"
]


def reference_attention(layer, x, position, padding_mask=None, bidirectional=True, window=None):
    """Attention in float64 NumPy from the layer's weights and the papers' formulas."""
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (
        [np.asarray(w, np.float64) for w in dense.get_weights()]
        for dense in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)
    )
    x = np.asarray(x, np.float64)
    q = np.einsum("btf,fhd->bthd", x, wq) + bq
    k = np.einsum("btf,fhd->bthd", x, wk) + bk
    v = np.einsum("btf,fhd->bthd", x, wv) + bv
    length = x.shape[1]
    if position == "rotary":
        for h in range(HEADS):
            q[:, :, h] = reference_rotation(q[:, :, h], np.arange(length))
            k[:, :, h] = reference_rotation(k[:, :, h], np.arange(length))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(KEY_DIM)
    i, j = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    allowed = np.ones((x.shape[0], HEADS, length, length), bool)
    if position == "alibi" and bidirectional:  # Split heads: 1 slope (2^-8), left then right.
        scores += -(2.0**-8) * np.abs(i - j)
        allowed &= np.stack([j <= i, j >= i])[None]
    if position == "alibi" and not bidirectional:  # Slopes of 2 heads: 2^-4, 2^-8.
        scores += np.stack([-(2.0**-4) * (i - j), -(2.0**-8) * (i - j)])
    if position == "t5":
        table = layer.bias.get_weights()[0]
        buckets = np.vectorize(lambda o: reference_t5_bucket(o, bidirectional=bidirectional))(j - i)
        scores += np.moveaxis(table[buckets], -1, 0)
    if position in ("kerple", "fire"):
        weights = layer.bias.get_weights()
        bias_of = {
            "kerple": lambda a, b: reference_kerple_bias(*weights, a, b, bidirectional),
            "fire": lambda a, b: reference_fire_bias(weights, a, b, bidirectional),
        }[position]
        # A causal form's later keys (-1e9) are masked below.
        scores += reference_bias_table(bias_of, range(length), range(length), HEADS)
    if padding_mask is not None:
        allowed &= padding_mask[:, None, None, :]
    if not bidirectional:
        allowed &= (j <= i)[None, None]
    if window is not None:
        allowed &= (np.abs(i - j) < window)[None, None]
    scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):  # A query that sees no key: NaN, never compared.
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    context = np.einsum("bhqk,bkhd->bqhd", weights, v)
    return np.einsum("bqhd,hdf->bqf", context, wo) + bo


def layer_and_inputs(position, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 7, WIDTH)).astype("float32")
    layer = PositionalAttention(HEADS, KEY_DIM, position, **kwargs)
    layer(x)  # Builds.
    if position in ("t5", "kerple", "fire"):  # Random weights, so that the bias shows.
        layer.bias.set_weights(
            [rng.normal(size=w.shape).astype("float32") for w in layer.bias.get_weights()]
        )
    return layer, x


@pytest.mark.parametrize(
    "block_size, window",
    [(None, None), (3, None), (None, 3), (3, 2)],
    ids=["all keys", "blocks of 3", "window of 3", "blocks of 3, window of 2"],
)
@pytest.mark.parametrize("position", ["none", "rotary", "alibi", "t5", "kerple", "fire"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_matches_float64_attention_with_masks(position, bidirectional, block_size, window):
    """Seven queries and keys in blocks of 3: the last block is ragged, and a
    window of 2 leaves key blocks that a query block never sees."""
    layer, x = layer_and_inputs(
        position,
        bidirectional=bidirectional,
        attention_block_size=block_size,
        sliding_window=window,
    )
    padding_mask = np.array([[1, 1, 1, 1, 1, 0, 0], [1] * 7], bool)
    got = to_numpy(layer(x, padding_mask=padding_mask))
    want = reference_attention(layer, x, position, padding_mask, bidirectional, window)
    # At real tokens: a padded query of a head that looks right sees no key.
    np.testing.assert_allclose(got[padding_mask], want[padding_mask], atol=2e-5)


def test_without_positions_it_is_keras_multi_head_attention():
    layer, x = layer_and_inputs("none", seed=1)
    keras_attention = keras.layers.MultiHeadAttention(HEADS, KEY_DIM)
    keras_attention(x, x)
    keras_attention.set_weights(layer.get_weights())
    mask = np.array([[1, 1, 1, 0, 0, 0, 0], [1] * 7], bool)
    np.testing.assert_allclose(
        to_numpy(layer(x, padding_mask=mask)),
        to_numpy(keras_attention(x, x, value_mask=mask)),
        atol=1e-5,
    )


@pytest.mark.parametrize("position", ATTENTION_FAMILIES)
def test_padding_changes_nothing_at_real_tokens(position):
    layer, x = layer_and_inputs(position, seed=2)
    padded = np.concatenate([x, np.random.default_rng(3).normal(size=(2, 5, WIDTH))], axis=1)
    mask = np.concatenate([np.ones((2, 7), bool), np.zeros((2, 5), bool)], axis=1)
    got = to_numpy(layer(padded.astype("float32"), padding_mask=mask))[:, :7]
    np.testing.assert_allclose(got, to_numpy(layer(x)), atol=1e-5)


def test_symmetric_alibi_cannot_tell_a_sentence_from_its_mirror_image():
    # -m |i - j| is the same read left to right or right to left; split
    # heads see direction. Mean over tokens, as the classifier pools.
    x = np.random.default_rng(6).normal(size=(1, 5, WIDTH)).astype("float32")
    for split, mirrored_alike in [(False, True), (True, False)]:
        layer = PositionalAttention(HEADS, KEY_DIM, "alibi", alibi_split_heads=split)
        pooled = to_numpy(layer(x)).mean(axis=1)
        pooled_mirror = to_numpy(layer(x[:, ::-1])).mean(axis=1)
        assert np.allclose(pooled, pooled_mirror, atol=1e-5) == mirrored_alike


def test_keras_mask_is_used_when_no_padding_mask_is_given():
    tokens = keras.Input(shape=(None,), dtype="int32")
    embedded = keras.layers.Embedding(20, WIDTH, mask_zero=True)(tokens)
    model = keras.Model(tokens, PositionalAttention(HEADS, KEY_DIM, "alibi")(embedded))
    alone = to_numpy(model(np.array([[3, 4, 5]])))
    np.testing.assert_allclose(
        to_numpy(model(np.array([[3, 4, 5, 0, 0]])))[:, :3], alone, atol=1e-6
    )


def test_mixed_precision_keeps_logits_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer, x = layer_and_inputs("t5", seed=4)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert layer.bias.compute_dtype == "float32"
    want = reference_attention(layer, x, "t5")
    np.testing.assert_allclose(to_numpy(out), want, atol=0.1)  # bfloat16 projections.


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"position": "sinusoidal"}, "position='sinusoidal'"),
        ({"position": "rotary", "key_dim": 3}, r"received 3 features per head, with num_heads=2\."),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"attention_block_size": 0}, "attention_block_size=0"),
        ({"attention_block_size": 2.5}, "attention_block_size=2.5"),
        ({"attention_block_size": "big"}, "a positive int, 'auto' or None.*='big'"),
        ({"sliding_window": 0}, "sliding_window=0"),
        ({"sliding_window": "4"}, "sliding_window='4'"),
        ({"position": "t5", "num_buckets": 7}, "num_buckets=7"),
        ({"position": "alibi", "alibi_bias_max": -1}, "alibi_bias_max=-1"),
        ({"position": "alibi", "num_heads": 3}, r"`num_heads` must be even .* num_heads=3"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PositionalAttention(**{"num_heads": HEADS, "key_dim": KEY_DIM, **kwargs})


@pytest.mark.parametrize("position", ATTENTION_FAMILIES)
def test_layer_contract(position, tmp_path):
    x = np.random.default_rng(5).normal(size=(2, 5, WIDTH)).astype("float32")
    run_layer_test(
        lambda: PositionalAttention(HEADS, KEY_DIM, position, dropout=0.1),
        x, tmp_path=tmp_path, mask=np.array([[1] * 5, [1, 1, 0, 0, 0]], bool),
        mixed_tolerance={"mixed_bfloat16": 0.1},  # bfloat16 projections.
    )  # fmt: skip


def test_a_users_position_layers_are_nested_objects_of_its_config(tmp_path):
    """A configured RotaryEmbedding and a bias layer, given as objects,
    come back from the config (and from a saved model) as they were."""
    rotary = RotaryEmbedding(max_wavelength=500, layout="interleaved")
    bias = AlibiBias(alibi_bias_max=4, bidirectional=False)
    layer = PositionalAttention(HEADS, KEY_DIM, [rotary, bias], bidirectional=False)
    assert layer.position_layers == [rotary, bias]
    config = json.loads(json.dumps(keras.layers.serialize(layer)))
    nested = config["config"]["position"]
    assert [entry["class_name"] for entry in nested] == ["RotaryEmbedding", "AlibiBias"]
    assert (
        nested[0]["config"]["max_wavelength"] == 500 and nested[1]["config"]["alibi_bias_max"] == 4
    )
    clone = keras.layers.deserialize(config)
    assert [type(p) for p in clone.position_layers] == [RotaryEmbedding, AlibiBias]
    assert clone.rotary.get_config() == rotary.get_config()
    x = np.random.default_rng(0).normal(size=(2, 6, WIDTH)).astype("float32")
    layer(x), clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(layer(x)), atol=1e-6)
    # What it computes is the short form with those options: the same layer.
    short = PositionalAttention(HEADS, KEY_DIM, "rotary", max_wavelength=500, bidirectional=False)
    short(x)
    short.set_weights(layer.get_weights())
    assert not np.allclose(to_numpy(short(x)), to_numpy(layer(x)))  # ALiBi is missing there.
    run_layer_test(
        lambda: PositionalAttention(HEADS, KEY_DIM, RelativePositionBias(HEADS, 8, 16)),
        x, tmp_path=tmp_path, trains=True, mixed_tolerance={"mixed_bfloat16": 0.1},
    )  # fmt: skip


def test_family_options_of_another_family_are_refused_not_ignored():
    with pytest.raises(ValueError, match=r"left out with position='alibi'.*max_wavelength=500"):
        PositionalAttention(HEADS, KEY_DIM, "alibi", max_wavelength=500)
    with pytest.raises(ValueError, match=r"family name only; received max_wavelength=500"):
        PositionalAttention(HEADS, KEY_DIM, RotaryEmbedding(), max_wavelength=500)
    # At their 0.2.0 defaults (as 0.2.0 configs carry them), they are dropped.
    layer = PositionalAttention(HEADS, KEY_DIM, "alibi", max_wavelength=10000, num_buckets=32)
    assert type(layer.bias) is AlibiBias
    # Those of the family reach its layer.
    layer = PositionalAttention(HEADS, KEY_DIM, "t5", num_buckets=16, max_distance=40)
    layer(np.zeros((1, 3, WIDTH), "float32"))
    assert (layer.bias.num_buckets, layer.bias.max_distance) == (16, 40)
    assert (16, HEADS) in [tuple(w.shape) for w in layer.get_weights()]


@pytest.mark.parametrize("argument, mask, expected", [
    ("attention_mask", np.ones((2, 7), bool), r"\(batch, sequence, sequence\) = \(2, 7, 7\)"),
    ("attention_mask", np.ones((2, 1, 7), bool), r"\(batch, sequence, sequence\)"),
    ("padding_mask", np.ones((2, 1), bool), r"\(batch, sequence\) = \(2, 7\)"),
    ("padding_mask", np.ones((2, 7, 7), bool), r"\(batch, sequence\)"),
    ("padding_mask", np.ones((3, 7), bool), r"\(batch, sequence\) = \(2, 7\)"),
])  # fmt: skip
def test_a_mask_of_the_wrong_rank_or_shape_is_refused(argument, mask, expected):
    """A (batch, sequence) mask given as attention_mask would broadcast onto
    the heads axis: accepted and silently wrong, before."""
    layer, x = layer_and_inputs("alibi")
    with pytest.raises(
        ValueError, match=rf"`{argument}` must have shape {expected}.*received {argument}.shape="
    ):
        layer(x, **{argument: mask})


def test_masks_of_the_right_shapes_are_taken():
    layer, x = layer_and_inputs("none")
    padding = np.array([[1, 1, 1, 1, 1, 0, 0], [1] * 7], bool)
    through_padding = to_numpy(layer(x, padding_mask=padding))
    as_attention = np.repeat(padding[:, None, :], 7, axis=1)
    np.testing.assert_allclose(
        to_numpy(layer(x, attention_mask=as_attention)), through_padding, atol=1e-6
    )


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("position", ATTENTION_FAMILIES)
def test_the_fused_path_equals_the_explicit_one_forward_and_in_training(position, bidirectional):
    """Outputs, with and without padding (causal with a window of 3), and the
    weights after one SGD step (so the gradients, T5's table included; for
    `COMPILED_FAMILIES`) agree to float32 rounding."""
    x = np.random.default_rng(4).normal(size=(2, 5, WIDTH)).astype("float32")
    padding = np.array([[1] * 5, [1, 1, 1, 0, 0]], bool)
    if position == "alibi" and bidirectional:
        # Split heads: padded query 4 would see no key on its side. Its output
        # is the same on both paths, but not its gradient (the fused bias
        # absorbs q.k at masked keys; the explicit path replaces it), and
        # this loss, unlike a model's, reads outputs at padding.
        padding[1, 3:] = True
    models = []
    for fused in (True, False):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, WIDTH))
        mask = keras.Input((None,), dtype="bool")
        layer = PositionalAttention(
            HEADS, KEY_DIM, position, bidirectional=bidirectional, fused=fused,
            sliding_window=None if bidirectional else 3,
        )  # fmt: skip
        models.append(keras.Model([inputs, mask], layer(inputs, padding_mask=mask)))
    for model in models:
        assert to_numpy(model([x, padding])).shape == x.shape
    fused, explicit = models
    explicit.set_weights(fused.get_weights())
    for mask in (np.ones_like(padding), padding):
        np.testing.assert_allclose(to_numpy(fused([x, mask])), to_numpy(explicit([x, mask])), atol=1e-6)  # fmt: skip
    if position not in COMPILED_FAMILIES:
        return
    target = np.random.default_rng(5).normal(size=x.shape).astype("float32")
    for model in models:
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit([x, padding], target, batch_size=2, epochs=1, verbose=0)
    for got, want in zip(fused.get_weights(), explicit.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("position", ATTENTION_FAMILIES)
def test_the_blockwise_path_equals_the_explicit_one_forward_and_in_training(
    position, bidirectional
):
    """Five keys in blocks of 2, with and without padding, causal with a
    window of 3: outputs, and the weights after one SGD step (so the
    gradients, T5's table included), agree to float32 rounding; compiled, as
    `fit` runs (with XLA where the backend has it), and at a second length
    (`COMPILED_FAMILIES`; the other rotary extensions eagerly, forward)."""
    window = None if bidirectional else 3
    x = np.random.default_rng(6).normal(size=(2, 5, WIDTH)).astype("float32")
    padding = np.array([[1] * 5, [1, 1, 1, 0, 0]], bool)
    models = []
    for block_size in (2, None):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, WIDTH))
        mask = keras.Input((None,), dtype="bool")
        layer = PositionalAttention(
            HEADS, KEY_DIM, position, bidirectional=bidirectional, fused=False,
            attention_block_size=block_size, sliding_window=window,
        )  # fmt: skip
        models.append(keras.Model([inputs, mask], layer(inputs, padding_mask=mask)))
    blockwise, explicit = models
    explicit.set_weights(blockwise.get_weights())
    compiled = position in COMPILED_FAMILIES
    for inputs in ([x, np.ones_like(padding)], [x, padding], [x[:, :3], padding[:, :3]]):
        got, want = (
            (model.predict(inputs, verbose=0) if compiled else to_numpy(model(inputs)))
            for model in models
        )
        np.testing.assert_allclose(got, want, atol=2e-6)
    if not compiled:
        return
    target = np.random.default_rng(7).normal(size=x.shape).astype("float32")
    xla = keras.backend.backend() != "torch"  # TensorFlow takes XLA where a GPU is.
    for model in models:
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=xla)
        model.fit([x, padding], target, batch_size=2, epochs=1, verbose=0)
    for got, want in zip(blockwise.get_weights(), explicit.get_weights()):
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_the_blockwise_path_gets_a_padding_mask_as_one_row_per_batch(monkeypatch):
    """Causal with padding: the blockwise path is handed the `(batch, 1,
    key)` padding mask and applies causality tile by tile, so no
    `(batch, query, key)` mask, quadratic in the length, is built."""
    from keras_posemb.modeling import positional_attention

    shapes = []
    blockwise = positional_attention.blockwise_attention
    monkeypatch.setattr(positional_attention, "blockwise_attention", lambda *a, **k: shapes.append(tuple(k["allowed"].shape)) or blockwise(*a, **k))  # fmt: skip
    layer = PositionalAttention(
        HEADS, KEY_DIM, "alibi", bidirectional=False, attention_block_size=2
    )
    x = np.random.default_rng(0).normal(size=(2, 5, WIDTH)).astype("float32")
    layer(x, padding_mask=np.array([[1] * 5, [1, 1, 1, 0, 0]], bool))
    assert shapes == [(2, 1, 5)]


def test_auto_block_size_attends_in_blocks_beyond_its_length_only(monkeypatch):
    """With the crossover moved to 4 keys and blocks of 3: 4 keys at once,
    7 in blocks, the same outputs either way; a TensorFlow graph traced for
    any length chooses as it runs."""
    from keras_posemb.modeling import positional_attention

    monkeypatch.setattr(positional_attention, "AUTO_BLOCKWISE_FROM", 4)
    monkeypatch.setattr(positional_attention, "AUTO_BLOCK_SIZE", 3)
    sizes = []
    blockwise = positional_attention.blockwise_attention
    monkeypatch.setattr(positional_attention, "blockwise_attention", lambda *a, **k: sizes.append(a[3]) or blockwise(*a, **k))  # fmt: skip
    auto = PositionalAttention(
        HEADS, KEY_DIM, "t5", bidirectional=False, attention_block_size="auto"
    )
    x = np.random.default_rng(3).normal(size=(2, 7, WIDTH)).astype("float32")
    auto.build(x.shape)
    want = reference_attention(auto, x, "t5", bidirectional=False)
    reference_short = reference_attention(auto, x[:, :4], "t5", bidirectional=False)
    sizes.clear()
    np.testing.assert_allclose(to_numpy(auto(x[:, :4])), reference_short, atol=2e-5)
    assert sizes == []
    np.testing.assert_allclose(to_numpy(auto(x)), want, atol=2e-5)
    assert sizes == [3]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((2, None, WIDTH), "float32")
        graph = tf.function(lambda inputs: auto(inputs), input_signature=[spec])
        np.testing.assert_allclose(graph(x[:, :4]).numpy(), reference_short, atol=2e-5)
        np.testing.assert_allclose(graph(x).numpy(), want, atol=2e-5)


@pytest.mark.parametrize("fused", ["auto", True])
def test_the_fused_path_is_taken_when_no_dropout_applies(monkeypatch, fused):
    if fused == "auto" and keras.backend.backend() == "tensorflow":
        fused = None  # "auto" is explicit on TensorFlow: no call expected.
    calls = []
    fused_op = keras.ops.dot_product_attention
    monkeypatch.setattr(keras.ops, "dot_product_attention", lambda *a, **k: calls.append(k) or fused_op(*a, **k))  # fmt: skip
    x = np.zeros((1, 4, WIDTH), "float32")
    if fused is None:
        PositionalAttention(HEADS, KEY_DIM, "rotary")(x)
        assert not calls
        return
    PositionalAttention(HEADS, KEY_DIM, "rotary", bidirectional=False, fused=fused)(x)
    assert calls[-1]["is_causal"] and calls[-1]["mask"] is None and calls[-1]["bias"] is None
    PositionalAttention(HEADS, KEY_DIM, "alibi", bidirectional=False, fused=fused)(x)
    assert tuple(calls[-1]["bias"].shape) == (1, HEADS, 4, 4) and not calls[-1]["is_causal"]
    count = len(calls)
    PositionalAttention(HEADS, KEY_DIM, "none", dropout=0.5, fused=fused)(x, training=True)
    PositionalAttention(HEADS, KEY_DIM, "none", fused=False)(x)
    assert len(calls) == count  # Dropout on the weights, or fused=False: the explicit path.


def test_a_single_token_is_attended_to_without_a_warning():
    """A one-word text: its only key gets all the weight, as the softmax
    gives, and Keras' warning about a softmax over one element stays away."""
    import warnings

    layer = PositionalAttention(2, 4, "alibi", fused=False)
    x = np.random.default_rng(0).normal(size=(2, 1, 8)).astype("float32")
    with warnings.catch_warnings():
        # Keras warns with a UserWarning; NumPy's DeprecationWarnings about
        # torch tensors are not what this test is about.
        warnings.simplefilter("error", UserWarning)
        got = to_numpy(layer(x))
    value = to_numpy(layer.value_dense(x))  # The output of one key is its value, projected.
    want = to_numpy(layer.output_dense(keras.ops.convert_to_tensor(value.astype("float32"))))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
