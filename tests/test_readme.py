import re
from pathlib import Path

import keras
import pytest
from helpers import run_python

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_its_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.all_backends  # Each backend's leg runs them, in fresh processes.
def test_readme_examples_run_under_every_backend(tmp_path):
    for example in EXAMPLES:
        run_python(example, cwd=tmp_path, backend=keras.backend.backend())
    assert (tmp_path / "model.keras").exists()


def test_ci_runs_the_readme_test_command():
    text = README.read_text()
    command = re.search(r"Run the tests:\n\n```bash\n(.*?)\n```", text, re.S).group(1)
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def test_every_number_placeholder_is_filled():
    assert "«" not in README.read_text()
