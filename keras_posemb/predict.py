"""Class predictions for raw text from a finished run, on any backend.

The run's `TextVectorization` turns strings into token ids (TensorFlow, as in
training) and `model.keras` gives the class probabilities, so this works
whichever Keras backend is active; under TensorFlow the run's
`text_model.keras` does both steps in one model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_posemb.errors import RunError
from keras_posemb.run import Run

# The ids `TextVectorization` gives padding and words outside its vocabulary.
PADDING_ID, OOV_ID = 0, 1


@dataclasses.dataclass
class Prediction:
    """One text's class probabilities, most likely class first, and how many
    of its words (after the run's standardization) the vocabulary knows."""

    text: str
    classes: list[tuple[str, float]]
    words: int = 0
    known_words: int = 0

    @property
    def label(self) -> str:
        return self.classes[0][0]


def predict_run(run: Run | str, texts: list[str]) -> list[Prediction]:
    """Predicts `texts` with the classifier of the run directory `run`."""
    run = run if isinstance(run, Run) else Run(run)
    class_names = run.read_classes()
    max_length = run.read_settings()["settings"]["max_length"]  # Training truncated there too.
    ids = np.asarray(run.vectorizer()(list(texts)))
    model = run.load_model()
    if model.output_shape[-1] != len(class_names):
        raise RunError(
            f"{run.path(Run.CLASSES)} names {len(class_names)} classes and the model has "
            f"{model.output_shape[-1]} outputs: the files are not of one run."
        )
    probabilities = np.asarray(model.predict(ids[:, :max_length], verbose=0), np.float64)
    predictions = []
    for text, row, text_ids in zip(texts, probabilities, ids):
        order = np.argsort(-row, kind="stable")
        classes = [(class_names[i], float(row[i])) for i in order]
        words, known = int(np.sum(text_ids != PADDING_ID)), int(np.sum(text_ids > OOV_ID))
        predictions.append(Prediction(text, classes, words, known))
    return predictions


def format_predictions(predictions: list[Prediction]) -> list[str]:
    """One line per text: the text, each class with its probability, and the
    words the model knows; a warning line under a text it knows no word of."""
    width = max(len(p.text) for p in predictions) + 2
    lines = []
    for p in predictions:
        classes = ", ".join(f"{name} {probability:.3f}" for name, probability in p.classes)
        lines.append(
            f"  {repr(p.text):<{width}} -> {classes}  ({p.known_words} of {p.words} words known)"
        )
        if not p.known_words:
            lines.append(
                "    warning: the model knows none of these words: the answer says nothing "
                "about the text."
            )
    return lines
