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
def test_readme_examples_run_under_every_backend_and_print_what_they_say(tmp_path):
    """An example's `# prints X` line is what its print before it shows."""
    for example in EXAMPLES:
        printed = run_python(example, cwd=tmp_path, backend=keras.backend.backend())
        for expected in re.findall(r"^# prints (.*)$", example, re.M):
            assert expected in printed.splitlines(), (expected, printed)
    assert (tmp_path / "model.keras").exists()
    assert any("# prints " in example for example in EXAMPLES)


def test_no_readme_line_names_a_path_outside_the_repository():
    """A clone has nothing next to it: every path is the repository's, or
    a placeholder the reader fills."""
    lines = [line for line in README.read_text().splitlines() if "../" in line]
    assert not lines, lines


def test_ci_runs_the_readme_test_command():
    text = README.read_text()
    command = re.search(r"Run the tests:\n\n```bash\n(.*?)\n```", text, re.S).group(1)
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def test_every_number_placeholder_is_filled():
    assert "«" not in README.read_text()
