"""Class predictions from a finished run, on any backend: raw texts for a
text classifier, image files for an image classifier.

The run's `TextVectorization` turns strings into token ids (TensorFlow, as in
training) and `model.keras` gives the class probabilities, so this works
whichever Keras backend is active; under TensorFlow the run's
`text_model.keras` does both steps in one model. Image files are read with
Pillow and resized to the model's image size (`data.images.read_image_file`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_posemb.errors import RunError
from keras_posemb.runs.run import Run

# The ids `TextVectorization` gives padding and words outside its vocabulary.
PADDING_ID, OOV_ID = 0, 1


@dataclasses.dataclass
class Prediction:
    """One input's class probabilities, most likely class first; for a
    text, how many of its words (after the run's standardization) the
    vocabulary knows; for an image file, the size it was resized from."""

    text: str
    classes: list[tuple[str, float]]
    words: int = 0
    known_words: int = 0
    resized_from: tuple[int, int] | None = None
    is_image: bool = False

    @property
    def label(self) -> str:
        return self.classes[0][0]


def _ranked(class_names, row):
    order = np.argsort(-row, kind="stable")
    return [(class_names[i], float(row[i])) for i in order]


def _checked_classes(run, model) -> list[str]:
    class_names = run.read_classes()
    if model.output_shape[-1] != len(class_names):
        raise RunError(
            f"{run.path(Run.CLASSES)} names {len(class_names)} classes and the model has "
            f"{model.output_shape[-1]} outputs: the files are not of one run."
        )
    return class_names


def predict_run(run: Run | str, texts: list[str]) -> list[Prediction]:
    """Predicts `texts` with the classifier of the run directory `run`."""
    run = run if isinstance(run, Run) else Run(run)
    max_length = run.read_settings()["settings"]["max_length"]  # Training truncated there too.
    ids = np.asarray(run.vectorizer()(list(texts)))
    model = run.load_model()
    class_names = _checked_classes(run, model)
    probabilities = np.asarray(model.predict(ids[:, :max_length], verbose=0), np.float64)
    predictions = []
    for text, row, text_ids in zip(texts, probabilities, ids):
        words, known = int(np.sum(text_ids != PADDING_ID)), int(np.sum(text_ids > OOV_ID))
        predictions.append(Prediction(text, _ranked(class_names, row), words, known))
    return predictions


def predict_images(run: Run | str, paths: list[str]) -> list[Prediction]:
    """Predicts the image files `paths` with the image classifier of the run
    directory `run`; each is resized to the model's image size.

    Raises:
        DataError: naming a file that is not an image that can be read.
    """
    from keras_posemb.data.images import read_image_file

    run = run if isinstance(run, Run) else Run(run)
    model = run.load_model()
    class_names = _checked_classes(run, model)
    size, channels = model.arguments["image_size"], model.arguments["channels"]
    read = [read_image_file(path, size, channels) for path in paths]
    images = np.stack([pixels for pixels, _ in read])
    probabilities = np.asarray(model.predict(images, verbose=0), np.float64)
    return [
        Prediction(
            str(path),
            _ranked(class_names, row),
            resized_from=original if original != tuple(size) else None,
            is_image=True,
        )  # fmt: skip
        for path, row, (_, original) in zip(paths, probabilities, read)
    ]


def format_predictions(predictions: list[Prediction]) -> list[str]:
    """One line per input: the text or file, each class with its probability,
    and the words the model knows (or the size an image was resized from); a
    warning line under a text it knows no word of."""
    width = max(len(repr(p.text)) for p in predictions)
    lines = []
    for p in predictions:
        classes = ", ".join(f"{name} {probability:.3f}" for name, probability in p.classes)
        if p.is_image:
            note = ""
            if p.resized_from:
                note = f"  (resized from {p.resized_from[0]} x {p.resized_from[1]})"
        else:
            note = f"  ({p.known_words} of {p.words} words known)"
        lines.append(f"  {repr(p.text):<{width}} -> {classes}{note}")
        if not p.is_image and not p.known_words:
            lines.append(
                "    warning: the model knows none of these words: the answer says nothing "
                "about the text."
            )
    return lines
