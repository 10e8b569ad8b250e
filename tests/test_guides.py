"""The guides in docs/guides: they run, say what their prose says, use the
public API only, and the README lists each one."""

import ast
import base64
import importlib.util
import json
import re

import keras
import pytest

from tests.helpers import ROOT, run_process
from tests.reference import installed_backends

spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def test_percent_format_cells():
    text = (
        "# %% [markdown]\n# # Title\n#\n# Prose, `code`.\n\n"
        "# %%\nx = 1\n\nprint(x)\n\n"
        "# %% [markdown]\n# More.\n"
    )
    assert build.parse_cells(text) == [
        ("markdown", "# Title\n\nProse, `code`."),
        ("code", "x = 1\n\nprint(x)"),
        ("markdown", "More."),
    ]
    with pytest.raises(ValueError, match="not a comment"):
        build.parse_cells("# %% [markdown]\nx = 1\n")


def test_a_cell_shows_prints_figures_and_its_last_value(tmp_path):
    kernel = build.Kernel("example")
    outputs = kernel.run(
        "import matplotlib.pyplot as plt\nprint('hi')\nplt.plot([1, 2])\nplt.show()\n2 + 3"
    )
    assert [o["output_type"] for o in outputs] == ["stream", "display_data", "execute_result"]
    assert outputs[0]["text"] == ["hi\n"]
    assert outputs[1]["data"]["image/png"]
    assert outputs[2]["data"]["text/plain"] == ["5"]
    assert kernel.run("y = 2 + 3") == [] and kernel.namespace["y"] == 5  # One namespace.
    with pytest.raises(build.CellError, match=r"(?s)example.py, code cell 3.*ZeroDivisionError"):
        kernel.run("print('before')\n1 / 0")


def test_each_guide_is_a_page_of_the_site_with_its_outputs_where_built(tmp_path, monkeypatch):
    """`docs/guide_pages.py`: prose and code from the guide; printed text and
    figures from its notebook once `docs/build.py` has written it."""
    spec = importlib.util.spec_from_file_location("guide_pages", ROOT / "docs" / "guide_pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    monkeypatch.setattr(pages, "NOTEBOOKS", tmp_path)
    source = (ROOT / "docs" / "guides" / "vision.py").read_text()
    code = [text for kind, text in build.parse_cells(source) if kind == "code"]
    markdown, figures = pages.guide_page("vision")
    assert all(f"```python\n{text}\n```" in markdown for text in code) and figures == {}
    assert "run `python docs/guides/vision.py`" in markdown

    png = b"\x89PNG\r\n\x1a\n not a real image"
    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["# Vision"]},
        {"cell_type": "code", "source": ["print(1)\n", "plot()"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["1\n"]},
            {"output_type": "display_data", "data": {"image/png": base64.b64encode(png).decode()}},
        ]},
    ]}  # fmt: skip
    (tmp_path / "vision.ipynb").write_text(json.dumps(notebook))
    markdown, figures = pages.guide_page("vision")
    assert markdown == (
        "# Vision\n\n```python\nprint(1)\nplot()\n```\n\n```text\n1\n```\n\n"
        "![A figure of the guide](vision_figure_1.png)\n"
    )
    assert figures == {"vision_figure_1.png": png}


def test_every_guide_is_built_and_listed_in_the_readme():
    guides = sorted(path.stem for path in (ROOT / "docs" / "guides").glob("*.py"))
    assert sorted(build.ORDER) == guides
    readme = (ROOT / "README.md").read_text()
    for name in build.ORDER:
        assert f"](docs/guides/{name}.py)" in readme, name


def _private_uses(tree):
    """Names `keras_posemb...._x` a guide imports or reaches by attribute."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_posemb"):
            found += [f"{node.module}.{a.name}" for a in node.names]
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("keras_posemb")]
        elif isinstance(node, ast.Attribute) and ast.unparse(node).startswith("keras_posemb."):
            found.append(ast.unparse(node))
    return [name for name in found if any(part.startswith("_") for part in name.split("."))]


def test_guides_use_only_the_public_api():
    assert _private_uses(ast.parse("from keras_posemb.layers import _angles")), "the check works"
    assert _private_uses(ast.parse("import keras_posemb\nkeras_posemb.layers._angles.X"))
    for path in (ROOT / "docs" / "guides").glob("*.py"):
        assert not _private_uses(ast.parse(path.read_text())), path.name


def _printed(notebook):
    """Everything the guide's cells printed, as one text."""
    return "".join(
        "".join(output.get("text", ""))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )


def _number(pattern, text):
    match = re.search(pattern + r"\s*([-+0-9.e]+)", text)
    assert match, (pattern, text)
    return float(match.group(1))


def _figures(notebook):
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )


def _check_why_position_matters(notebook):
    # Without positions, attention gives a sentence and its mirror image the
    # same outputs up to rounding; with them, different ones.
    printed = _printed(notebook)
    assert _number("two sentences' outputs:", printed) < 1e-6
    assert _number("with positions, the largest difference:", printed) > 1e-3
    assert _number("difference of the mean-pooled vectors:", printed) > 1e-4
    # What the prose says of the two classifiers holds at the small size too.
    assert _number("none: test accuracy", printed) == pytest.approx(0.5, abs=0.05)
    assert _number("sinusoidal: test accuracy", printed) > 0.9
    pair = re.findall(r"'the (?:dog|cat) chased the (?:cat|dog)'\s+-> (\w+ \w+)", printed)
    assert len(pair) == 4 and pair[0] == pair[1] and pair[2] != pair[3], pair


def _check_sinusoidal_and_learned(notebook):
    # The layer is the formula; the rotation maps PE(pos) to PE(pos + 5).
    printed = _printed(notebook)
    assert _number("from the NumPy formula:", printed) < 1e-6
    assert _number(r"from PE\(pos \+ 5\):", printed) < 1e-9
    assert _figures(notebook) == 4


def _check_inside_attention(notebook):
    # Rotary scores depend on the offset only; symmetric ALiBi cannot tell a
    # sentence from its mirror image, split heads and rotary can.
    printed = _printed(notebook)
    assert "rotated scores constant along each diagonal: True" in printed
    assert (
        _number("symmetric ALiBi: pooled outputs of sentence and mirror image differ by", printed)
        < 1e-5
    )
    assert (
        _number("left/right: pooled outputs of sentence and mirror image differ by", printed) > 1e-3
    )
    assert _number("rotary: pooled outputs of sentence and mirror image differ by", printed) > 1e-3
    assert _figures(notebook) == 5


def _check_experiment(notebook):
    # One row per registered encoding, and both plots.
    printed = _printed(notebook)
    for encoding in ("sinusoidal", "learned", "rotary", "alibi", "t5", "none"):
        assert f"| {encoding} |" in printed, encoding
    assert _figures(notebook) == 2


def _check_decoders(notebook):
    # A cached decoder gives the full pass's logits; every extension is
    # evaluated at 2x, 4x and 8x; the angles are drawn.
    printed = _printed(notebook)
    assert _number("cached against full pass, largest difference:", printed) < 1e-4
    for kind in ("greedy: ", "sampled:"):  # both continue the prompt
        assert re.search(kind + r" ['\"]the dog ", printed), kind
    for row in ("rotary as trained", "+ linear", "+ ntk", "+ yarn"):
        line = next(line for line in printed.splitlines() if line.startswith(row))
        assert len(line[20:].split()) == (4 if row == "rotary as trained" else 3), line
    assert _figures(notebook) == 1


def _check_vision(notebook):
    # The twins are one bag of patches, which only positions tell apart; the
    # 2-D table is two 1-D ones; rotary scores depend on the offset only.
    printed = _printed(notebook)
    assert "same bag of patches: True" in printed
    assert _number("none: outputs of image and mirror image differ by", printed) < 1e-5
    assert _number("learned_2d: outputs of image and mirror image differ by", printed) > 1e-4
    assert _number("largest difference from the 1-D encoding of row and column:", printed) < 1e-6
    assert _number("largest spread of scores with the same offset:", printed) < 1e-4
    assert printed.count("patches: accuracy") >= 4  # 4 image sizes or more
    assert _figures(notebook) == 4


# Each guide runs under one backend, and the three backends share them: the
# guides use the public API, which the other tests check on every backend,
# and running every guide three times was a third of CI's time.
GUIDE_BACKENDS = {
    "why_position_matters": "tensorflow",
    "sinusoidal_and_learned": "jax",
    "inside_attention": "torch",
    "experiment": "tensorflow",
    "decoders": "torch",
    "vision": "torch",
}
CHECKS = {name: globals()[f"_check_{name}"] for name in GUIDE_BACKENDS}


def test_every_guide_has_a_backend_and_a_check():
    assert sorted(GUIDE_BACKENDS) == sorted(build.ORDER)
    assert set(GUIDE_BACKENDS.values()) == {"tensorflow", "jax", "torch"}


@pytest.mark.all_backends
@pytest.mark.parametrize("name", build.ORDER)
def test_the_guide_runs_and_shows_what_it_says(name, tmp_path):
    backend = GUIDE_BACKENDS[name]
    if backend not in installed_backends():
        backend = "tensorflow"
    if keras.backend.backend() != backend:
        pytest.skip(f"the {name} guide runs under {backend}")
    scratch = tmp_path / "scratch"  # The guide's temporary folders: none is left behind.
    scratch.mkdir()
    result = run_process(
        [str(ROOT / "docs" / "build.py"), name, "--small", "--output-dir", str(tmp_path)],
        cwd=tmp_path, env={"TMPDIR": str(scratch)},
    )  # fmt: skip
    assert list(scratch.iterdir()) == []
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = json.loads((tmp_path / f"{name}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    assert any(cell["cell_type"] == "markdown" for cell in notebook["cells"])
    # The guide's runs go to temporary folders: the working directory keeps
    # nothing but the notebook.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{name}.ipynb", "scratch"])
    CHECKS[name](notebook)
