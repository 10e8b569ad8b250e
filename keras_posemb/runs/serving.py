"""Inference models that take raw strings (TensorFlow backend)."""

from __future__ import annotations

import keras


def build_string_classifier(
    classifier: keras.Model,
    vectorizer: keras.layers.TextVectorization,
    name: str = "string_classifier",
) -> keras.Model:
    """Wraps a classifier and its adapted `TextVectorization` for serving.

    The returned model takes a batch of raw strings, shape `(batch,)`, and
    returns the classifier's outputs. It exports with
    `model.export(path)` to a SavedModel whose `serve` endpoint takes a
    string tensor. Training keeps the vectorizer outside the model (in
    `tf.data`), so the classifier itself stays backend-agnostic.

    Args:
        classifier: a model from token ids `(batch, sequence)` to outputs,
            such as `keras_posemb.models.build_text_classifier(...)`.
        vectorizer: an adapted `keras.layers.TextVectorization` with
            `output_mode="int"`, the one the classifier was trained with.
        name: the model's name.

    Returns:
        A `keras.Model` from strings to the classifier's outputs.

    Example:

    ```python
    served = build_string_classifier(classifier, vectorizer)
    served.export("exported")  # tf.saved_model.load("exported").serve(texts)
    ```
    """
    if not isinstance(vectorizer, keras.layers.TextVectorization):
        raise ValueError(
            "Argument `vectorizer` must be a keras.layers.TextVectorization; "
            f"received vectorizer={vectorizer!r}."
        )
    if vectorizer.get_config()["output_mode"] != "int":
        raise ValueError(
            "Argument `vectorizer` must have output_mode='int' (token ids); "
            f"received output_mode={vectorizer.get_config()['output_mode']!r}."
        )
    text = keras.Input(shape=(), dtype="string", name="text")
    return keras.Model(text, classifier(vectorizer(text)), name=name)
