"""Class predictions for raw text from a finished run, on any backend.

The run's `TextVectorization` turns strings into token ids (TensorFlow, as in
training) and `model.keras` gives the class probabilities, so this works
whichever Keras backend is active; under TensorFlow the run's
`text_model.keras` does both steps in one model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_posemb.run import Run


@dataclasses.dataclass
class Prediction:
    """One text's class probabilities, most likely class first."""

    text: str
    classes: list[tuple[str, float]]

    @property
    def label(self) -> str:
        return self.classes[0][0]


def predict_run(run: Run | str, texts: list[str]) -> list[Prediction]:
    """Predicts `texts` with the classifier of the run directory `run`."""
    run = run if isinstance(run, Run) else Run(run)
    class_names = run.read_classes()
    max_length = run.read_settings()["settings"]["max_length"]  # Training truncated there too.
    ids = np.asarray(run.vectorizer()(list(texts)))[:, :max_length]
    probabilities = np.asarray(run.load_model().predict(ids, verbose=0), np.float64)
    predictions = []
    for text, row in zip(texts, probabilities):
        order = np.argsort(-row, kind="stable")
        predictions.append(Prediction(text, [(class_names[i], float(row[i])) for i in order]))
    return predictions


def format_predictions(predictions: list[Prediction]) -> list[str]:
    """One line per text: the text, then each class with its probability."""
    width = max(len(p.text) for p in predictions) + 2
    lines = []
    for p in predictions:
        classes = ", ".join(f"{name} {probability:.3f}" for name, probability in p.classes)
        lines.append(f"  {repr(p.text):<{width}} -> {classes}")
    return lines
