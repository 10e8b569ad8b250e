""".keras files move between backends: saved under one, loaded with
safe_mode under each other one in a fresh process, same predictions to
float32 tolerance. Runs every pair of installed backends from here,
one loading process per target backend."""

import pytest
from helpers import run_python
from reference import installed_backends

SAVE = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_models import save_trained_models
save_trained_models(Path("."))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder of trained models per source backend."""
    from pathlib import Path

    tests = str(Path(__file__).parent)
    folders = {}
    for source in installed_backends():
        folders[source] = tmp_path_factory.mktemp(source)
        run_python(SAVE.format(tests=tests), cwd=folders[source], backend=source)
    return folders


@pytest.mark.parametrize("target", installed_backends())
def test_models_saved_under_the_other_backends_predict_the_same_under_this_one(saved, target):
    """One fresh process per target loads what every other backend saved."""
    from test_models import LOAD_AND_COMPARE

    sources = [str(folder) for source, folder in saved.items() if source != target]
    out = run_python(LOAD_AND_COMPARE, cwd=saved[target], args=["1e-5", *sources], backend=target)
    assert out.split()[-1] == target
