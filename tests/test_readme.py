"""The README and the pages in docs/: their examples run and print what
they say, their links and names resolve, the site builds."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from helpers import resolves_dotted_name, run_python

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def examples():
    """`(page name, example)` of each example once, with the first page that
    shows it (a page may repeat the README's)."""
    seen = {}
    for page in PAGES:
        for example in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            seen.setdefault(example, page.name)
    return [(page, example) for example, page in seen.items()]


EXAMPLES = examples()


def test_the_readme_has_its_examples():
    assert sum(page == "README.md" for page, _ in EXAMPLES) >= 2


# Runs each example of a JSON file (the first argument) in a namespace of
# its own, and prints what each printed as one JSON line.
RUN_EXAMPLES = """
import contextlib, io, json, sys
for example in json.loads(open(sys.argv[1]).read()):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "<example>", "exec"), {"__name__": "__main__"})
    print(json.dumps(printed.getvalue()))
"""


@pytest.mark.all_backends  # Each backend's leg runs them, in a fresh process.
def test_examples_run_under_every_backend_and_print_what_they_say(tmp_path):
    """An example's `# prints X` line is what its print before it shows."""
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps([example for _, example in EXAMPLES]))
    out = run_python(RUN_EXAMPLES, tmp_path, [str(examples)], backend=keras.backend.backend())
    outputs = [json.loads(line) for line in out.splitlines()[-len(EXAMPLES) :]]
    for (page, example), printed in zip(EXAMPLES, outputs, strict=True):
        for expected in re.findall(r"^# prints (.*)$", example, re.M):
            assert expected in printed.splitlines(), (page, expected, printed)
    assert (tmp_path / "model.keras").exists()
    assert any("# prints " in example for _, example in EXAMPLES)


def test_no_line_names_a_path_outside_the_repository():
    """A clone has nothing next to it: every path is the repository's, or
    a placeholder the reader fills."""
    lines = [
        (page.name, line)
        for page in PAGES
        for line in page.read_text().splitlines()
        if "../" in line
    ]
    assert not lines, lines


def test_every_dotted_name_of_the_package_exists():
    """`keras_posemb.x.y` in the text is a module or an attribute of one."""
    names = {
        name for page in PAGES for name in re.findall(r"keras_posemb(?:\.\w+)+", page.read_text())
    }
    missing = [name for name in sorted(names) if not resolves_dotted_name(name)]
    assert not missing, missing


def test_every_file_a_page_names_exists():
    """`path/to/file.py` in backticks or a link is a file of the repository."""
    missing = []
    for page in PAGES:
        base = page.parent
        for path in re.findall(
            r"[`(]((?:[\w.-]+/)+[\w.-]+\.(?:py|md|png|toml|yml))[`)]", page.read_text()
        ):
            if not ((ROOT / path).exists() or (base / path).exists()):
                missing.append((page.name, path))
    assert not missing, missing


def test_the_docs_site_builds_without_a_warning(tmp_path):
    """mkdocs in strict mode: every link and anchor resolves, every API
    entry renders from its docstring."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()


def test_ci_runs_the_readme_test_command():
    text = README.read_text()
    command = re.search(r"Run the tests:\n\n```bash\n(.*?)\n```", text, re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def test_every_number_placeholder_is_filled():
    assert not [page.name for page in PAGES if "«" in page.read_text()]
