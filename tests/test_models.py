import keras
import numpy as np
import pytest
from layer_contract import check_reload_under_another_policy
from reference import to_numpy

from keras_posemb import families, modeling, models
from keras_posemb.modeling import PositionalAttention, SequencePooling

pytestmark = pytest.mark.all_backends
SMALL = dict(
    vocab_size=40, num_classes=3, max_length=24, embed_dim=16, num_heads=2, ff_dim=32, num_layers=2
)


def token_ids(rng, batch, length, vocab=40):
    return rng.integers(1, vocab, size=(batch, length)).astype("int32")


def test_structure_is_standard_layers_with_a_named_position_layer():
    model = models.build_text_classifier(**SMALL)
    assert model.input.shape == (None, None)
    assert model.output.shape == (None, 3)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    assert type(model.get_layer(families.POSITION_LAYER_NAME)).__name__ == "SinusoidalEncoding"
    learned = models.build_text_classifier(**SMALL, position="learned")
    assert learned.get_layer(families.POSITION_LAYER_NAME).embeddings.shape == (24, 16)
    none = models.build_text_classifier(**SMALL, position="none")
    assert families.POSITION_LAYER_NAME not in [layer.name for layer in none.layers]


def test_probabilities_are_the_softmax_of_the_logits():
    ids = token_ids(np.random.default_rng(0), 4, 10)
    probabilities = models.build_text_classifier(**SMALL)
    logits = models.build_text_classifier(**SMALL, logits=True)
    logits.set_weights(probabilities.get_weights())
    z = to_numpy(logits(ids))
    softmax = np.exp(z - z.max(axis=-1, keepdims=True))
    softmax /= softmax.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(to_numpy(probabilities(ids)), softmax, atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
def test_none_with_mean_pooling_is_permutation_invariant(norm_first):
    rng = np.random.default_rng(1)
    model = models.build_text_classifier(**SMALL, position="none", norm_first=norm_first)
    ids = token_ids(rng, 3, 12)
    ids[:, 9:] = 0
    shuffled = ids.copy()
    for row in shuffled:
        row[:9] = rng.permutation(row[:9])
    np.testing.assert_allclose(to_numpy(model(shuffled)), to_numpy(model(ids)), atol=1e-5)


@pytest.mark.parametrize("position", [p for p in families.names() if p != "none"])
def test_encodings_are_not_permutation_invariant(position):
    # Not a reversal: the bidirectional ALiBi bias depends on |i - j| alone,
    # which reversing a sequence keeps.
    rng = np.random.default_rng(2)
    model = models.build_text_classifier(**SMALL, position=position, logits=True)
    if position == "t5":  # Its tables start at zero: no position information yet.
        for layer in model.layers:
            if isinstance(layer, PositionalAttention):
                layer.bias.set_weights([rng.normal(size=w.shape) for w in layer.bias.get_weights()])
    ids = token_ids(rng, 4, 12)
    shuffled = ids[:, rng.permutation(12)]
    assert np.abs(to_numpy(model(shuffled)) - to_numpy(model(ids))).max() > 1e-4


@pytest.mark.parametrize("position", families.names())
@pytest.mark.parametrize(
    "pooling, norm_first", [("mean", True), ("max", True), ("first", True), ("mean", False)]
)
def test_appended_padding_changes_nothing(position, pooling, norm_first):
    rng = np.random.default_rng(3)
    model = models.build_text_classifier(
        **SMALL, position=position, pooling=pooling, norm_first=norm_first, logits=True
    )
    ids = token_ids(rng, 3, 10)
    ids[0, 6:] = 0  # Rows already padded to different lengths.
    padded = np.concatenate([ids, np.zeros((3, 14), "int32")], axis=1)
    np.testing.assert_allclose(to_numpy(model(padded)), to_numpy(model(ids)), atol=1e-5)


@pytest.mark.parametrize("position", families.names())
def test_padding_reaches_every_attention_layer(position):
    """Changing the embedding of the padding token leaves the output alone."""
    rng = np.random.default_rng(4)
    model = models.build_text_classifier(**SMALL, position=position, pooling="first", logits=True)
    ids = token_ids(rng, 2, 10)
    ids[:, 5:] = 0
    before = to_numpy(model(ids))
    embedding = model.get_layer("token_embedding")
    table = embedding.get_weights()[0]
    table[0] = rng.normal(size=table.shape[1]) * 10
    embedding.set_weights([table])
    np.testing.assert_allclose(to_numpy(model(ids)), before, atol=1e-5)


def test_shorter_and_longer_inputs():
    rng = np.random.default_rng(5)
    sinusoidal = models.build_text_classifier(**SMALL)
    assert sinusoidal(token_ids(rng, 2, 5)).shape == (2, 3)
    assert sinusoidal(token_ids(rng, 2, 100)).shape == (2, 3)
    learned = models.build_text_classifier(**SMALL, position="learned")
    assert learned(token_ids(rng, 2, 24)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"max_length=24"):
        learned.predict(token_ids(rng, 2, 25), verbose=0)


def learnable_task(rng, n=256, length=8):
    """Label: is token 1 before token 2? Needs order, so a position signal."""
    ids = rng.integers(3, 20, size=(n, length)).astype("int32")
    labels = rng.integers(0, 2, size=n)
    for row, label in zip(ids, labels):
        first, second = sorted(rng.choice(length, 2, replace=False))
        row[first], row[second] = (1, 2) if label else (2, 1)
    return ids, labels


# "auto": each backend's own default (XLA under TensorFlow only on GPUs, always under JAX).
@pytest.mark.parametrize("policy, jit_compile", [("float32", True), ("mixed_float16", "auto")])
def test_training_jit_and_mixed_precision(policy, jit_compile):
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    ids, labels = learnable_task(np.random.default_rng(6))
    model = models.build_text_classifier(
        vocab_size=20,
        num_classes=2,
        max_length=8,
        embed_dim=16,
        num_heads=2,
        ff_dim=32,
        num_layers=1,
    )
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", jit_compile=jit_compile
    )
    loss = model.fit(ids, labels, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss))
    assert loss[-1] < loss[0] * 0.9


# Each model kind with a family inside attention and dropout everywhere.
MODEL_KINDS = {
    "text classifier": (
        lambda: models.build_text_classifier(20, 2, 8, "t5", 16, 2, 32, 1, dropout=0.1),
        np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 1]], "int32"),
    ),
    "causal LM": (
        lambda: models.build_causal_lm(20, 8, "rotary_yarn", 16, 2, num_layers=1, dropout=0.1),
        np.array([[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]], "int32"),
    ),
    "image classifier": (
        lambda: models.build_image_classifier(8, 4, 2, "rotary_2d", 1, 16, 2, 32, 1, 0.1),
        np.linspace(0, 1, 2 * 64, dtype="float32").reshape(2, 8, 8, 1),
    ),
}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_model_saved_in_mixed_precision_runs_under_the_default_policy(kind, tmp_path):
    """A run trained with --mixed-precision is used by a process with the
    default float32 policy (generate, predict, plot)."""
    make_model, inputs = MODEL_KINDS[kind]
    loaded = check_reload_under_another_policy(make_model, inputs, tmp_path)
    loaded.predict(inputs, verbose=0)
    if kind == "causal LM":
        generated = loaded.generate(inputs[:, :4], max_new_tokens=8, temperature=0.8, seed=0)
        assert generated.shape == (1, 12)


# Bad arguments.


@pytest.mark.parametrize(
    "change, match",
    [
        ({"position": "rotary2"}, "position='rotary2'"),
        ({"pooling": "sum"}, "pooling='sum'"),
        ({"num_heads": 3}, "num_heads=3"),
        ({"num_heads": 0}, "num_heads=0"),
        ({"embed_dim": 0}, "embed_dim=0"),
        ({"ff_dim": -1}, "ff_dim=-1"),
        ({"num_layers": 0}, "num_layers=0"),
        ({"vocab_size": 2.5}, "vocab_size=2.5"),
        ({"max_length": 0}, "max_length=0"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_bad_arguments(change, match):
    with pytest.raises(ValueError, match=match):
        models.build_text_classifier(**{**SMALL, **change})


def test_block_rejects_heads_that_do_not_divide_the_width():
    x = keras.Input(shape=(None, 10))
    with pytest.raises(ValueError, match="embed_dim=10; received num_heads=4"):
        modeling.transformer_encoder_block(x, None, num_heads=4, ff_dim=8)


# SequencePooling against numpy on the arrays it pools.


@pytest.mark.parametrize("mode", ["mean", "max", "first"])
def test_sequence_pooling_matches_numpy(mode):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    got = to_numpy(SequencePooling(mode)(x, mask=mask))
    for b in range(3):
        kept = x[b][mask[b]]
        if mode == "first":
            want = x[b, 0]
        elif len(kept) == 0:
            want = np.zeros(4)
        else:
            want = kept.mean(axis=0) if mode == "mean" else kept.max(axis=0)
        np.testing.assert_allclose(got[b], want, atol=1e-6)


def test_sequence_pooling_bad_mode():
    with pytest.raises(ValueError, match="mode='median'"):
        SequencePooling("median")


@pytest.mark.parametrize("position", families.names())
def test_embedding_scaling_is_part_of_the_token_path_for_every_position(position):
    """Scaling by sqrt(d) equals training a table that is sqrt(d) larger,
    whatever the position choice ("none" included)."""
    ids = token_ids(np.random.default_rng(9), 2, 7)
    scaled = models.build_text_classifier(**SMALL, position=position, logits=True)
    plain = models.build_text_classifier(
        **SMALL, position=position, logits=True, scale_embeddings=False
    )
    plain.set_weights(scaled.get_weights())
    before = to_numpy(plain(ids))
    embedding = plain.get_layer("token_embedding")
    embedding.set_weights([embedding.get_weights()[0] * np.sqrt(SMALL["embed_dim"])])
    np.testing.assert_allclose(to_numpy(plain(ids)), to_numpy(scaled(ids)), atol=1e-5)
    assert np.abs(before - to_numpy(scaled(ids))).max() > 1e-4  # Scaling changes something.


def test_the_encoders_take_positions_per_layer():
    def attention_positions(model):
        return [
            [type(p).__name__ for p in layer.position_layers]
            for layer in model._flatten_layers()
            if isinstance(layer, PositionalAttention)
        ]

    text = models.build_text_classifier(
        50, 2, 8, ["alibi", "none"], embed_dim=8, num_heads=2, ff_dim=8, num_layers=2
    )
    assert attention_positions(text) == [["AlibiBias"], []]
    assert text(np.ones((2, 5), "int32")).shape == (2, 2)
    images = models.build_image_classifier(
        (8, 8), 4, 2, ["none", "rotary_2d"], embed_dim=8, num_heads=2, ff_dim=8, num_layers=2
    )
    assert attention_positions(images) == [[], ["RotaryEmbedding2D"]]
    assert images(np.zeros((1, 8, 8, 3), "float32")).shape == (1, 2)
