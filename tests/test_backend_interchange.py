""".keras files move between backends: saved under one, loaded with
safe_mode under each other one in a fresh process, same predictions to
float32 tolerance. Runs every pair of installed backends from here."""

import itertools

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
PAIRS = list(itertools.permutations(installed_backends(), 2))


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


@pytest.mark.parametrize("source, target", PAIRS)
def test_a_model_saved_under_one_backend_predicts_the_same_under_another(saved, source, target):
    from test_models import LOAD_AND_COMPARE

    out = run_python(LOAD_AND_COMPARE, cwd=saved[source], args=["1e-5"], backend=target)
    assert out.split()[-1] == target
