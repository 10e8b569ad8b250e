""".keras files move between backends: saved under one, loaded with
safe_mode under each other one in a fresh process, same predictions to
float32 tolerance (exactly under the backend that saved them). Runs every
pair of installed backends from here, one loading process per target
backend."""

from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import run_python
from reference import installed_backends, to_numpy
from test_models import learnable_task

from keras_posemb import families, models


def save_trained_models(directory):
    """Saves a model per position choice, its inputs and predictions. Every
    weight is drawn at random (a table or bias that starts at zero would
    reload as zeros unnoticed), and the optimizer's state is saved too."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(7)
    ids, _ = learnable_task(rng, n=64)
    np.save(directory / "ids.npy", ids)
    for position in families.names():
        model = models.build_text_classifier(
            vocab_size=20, num_classes=2, max_length=8, position=position, embed_dim=16,
            num_heads=2, ff_dim=32, num_layers=1, pooling="max",
        )  # fmt: skip
        model.set_weights([rng.normal(0, 0.3, w.shape) for w in model.get_weights()])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        model.save(directory / f"{position}.keras")
        np.save(directory / f"{position}.npy", to_numpy(model.predict(ids, verbose=0)))


# Loads every model `save_trained_models` saved in each folder given as
# `tolerance:folder` with safe_mode, and checks its predictions to the
# tolerance.
LOAD_AND_COMPARE = """
import sys
from pathlib import Path
import numpy as np, keras, keras_posemb
from keras_posemb import families
for argument in sys.argv[1:]:
    tolerance, folder = argument.split(":", 1)
    tolerance, folder = float(tolerance), Path(folder)
    for position in families.names():
        model = keras.saving.load_model(folder / f"{position}.keras", safe_mode=True)
        got = keras.ops.convert_to_numpy(model.predict(np.load(folder / "ids.npy"), verbose=0))
        want = np.load(folder / f"{position}.npy")
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=str(folder))
print(keras.backend.backend())
"""


SAVE = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_backend_interchange import save_trained_models
save_trained_models(Path("."))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder of trained models per source backend."""
    tests = str(Path(__file__).parent)
    folders = {}
    for source in installed_backends():
        folders[source] = tmp_path_factory.mktemp(source)
        run_python(SAVE.format(tests=tests), cwd=folders[source], backend=source)
    return folders


@pytest.mark.parametrize("target", installed_backends())
def test_models_saved_under_any_backend_predict_the_same_under_this_one(saved, target):
    """One fresh process per target loads what every backend saved."""
    folders = [f"{0 if source == target else 1e-5}:{folder}" for source, folder in saved.items()]
    out = run_python(LOAD_AND_COMPARE, cwd=saved[target], args=folders, backend=target)
    assert out.split()[-1] == target
