import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_posemb import models
from keras_posemb.runs.serving import build_string_classifier

TEXTS = [
    "the dog chased the cat",
    "the cat chased the dog",
    "a small bird sang",
    "the dog slept",
    "an unknown zebra word here",
]


def adapted_vectorizer(**kwargs):
    vectorizer = keras.layers.TextVectorization(**kwargs)
    vectorizer.adapt(TEXTS[:4])
    return vectorizer


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_exported_string_model_matches_keras_model_on_ids(position, tmp_path):
    vectorizer = adapted_vectorizer(output_sequence_length=8)
    classifier = models.build_text_classifier(
        vectorizer.vocabulary_size(),
        2,
        8,
        position=position,
        embed_dim=8,
        num_heads=2,
        ff_dim=16,
        num_layers=1,
    )
    served = build_string_classifier(classifier, vectorizer)
    served.export(str(tmp_path / "exported"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    got = reloaded.serve(tf.constant(TEXTS))
    ids = vectorizer(tf.constant(TEXTS))
    assert ids.numpy()[4, 1] == 1  # Out-of-vocabulary words map to id 1.
    np.testing.assert_allclose(got, classifier.predict(ids, verbose=0), atol=1e-6)


def test_bad_vectorizer():
    classifier = models.build_text_classifier(10, 2, 8, embed_dim=8, num_heads=2)
    with pytest.raises(ValueError, match="vectorizer=.*Dense"):
        build_string_classifier(classifier, keras.layers.Dense(3))
    with pytest.raises(ValueError, match="output_mode='multi_hot'"):
        build_string_classifier(classifier, adapted_vectorizer(output_mode="multi_hot"))
