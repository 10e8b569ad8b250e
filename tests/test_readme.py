import re
from pathlib import Path

from reference import run_python

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_runs(tmp_path):
    text = README.read_text()
    example = re.search(r"## Usage\n\n```python\n(.*?)```", text, re.S).group(1)
    run_python(example + "\nprint(model.count_params())", cwd=tmp_path)
    assert (tmp_path / "model.keras").exists()


def test_ci_runs_the_readme_test_command():
    text = README.read_text()
    command = re.search(r"Run the tests:\n\n```bash\n(.*?)\n```", text, re.S).group(1)
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci.splitlines()
