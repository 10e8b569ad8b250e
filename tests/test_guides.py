"""The guides in docs/guides: they run, say what their prose says, use the
public API only, and the README lists each one."""

import ast
import importlib.util
import json
import re

import pytest

from tests.helpers import ROOT, run_process

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


@pytest.mark.all_backends
def test_the_guides_run_and_show_what_they_say(tmp_path):
    # Two processes, each within run_process's time limit on a busy CI
    # machine: the decoders guide compiles a model per extension under JAX.
    for guides in (build.ORDER[:-1], build.ORDER[-1:]):
        result = run_process(
            [str(ROOT / "docs" / "build.py"), *guides, "--small", "--output-dir", str(tmp_path)],
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    notebooks = {name: json.loads((tmp_path / f"{name}.ipynb").read_text()) for name in build.ORDER}
    for name, notebook in notebooks.items():
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1)), name
        assert any(cell["cell_type"] == "markdown" for cell in notebook["cells"]), name
    # The guides' runs go to temporary folders: the working directory keeps
    # nothing but the notebooks.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.ipynb" for n in build.ORDER)

    # 1: without positions, attention gives a sentence and its mirror image
    # the same outputs up to rounding; with them, different ones.
    printed = _printed(notebooks["why_position_matters"])
    assert _number("two sentences' outputs:", printed) < 1e-6
    assert _number("with positions, the largest difference:", printed) > 1e-3
    assert _number("difference of the mean-pooled vectors:", printed) > 1e-4
    assert printed.count("test accuracy") == 2
    # 2: the layer is the formula; the rotation maps PE(pos) to PE(pos + 5).
    printed = _printed(notebooks["sinusoidal_and_learned"])
    assert _number("from the NumPy formula:", printed) < 1e-6
    assert _number(r"from PE\(pos \+ 5\):", printed) < 1e-9
    assert _figures(notebooks["sinusoidal_and_learned"]) == 4
    # 3: rotary scores depend on the offset only; symmetric ALiBi cannot
    # tell a sentence from its mirror image, split heads and rotary can.
    printed = _printed(notebooks["inside_attention"])
    assert "rotated scores constant along each diagonal: True" in printed
    assert (
        _number("symmetric ALiBi: pooled outputs of sentence and mirror image differ by", printed)
        < 1e-5
    )
    assert (
        _number("left/right: pooled outputs of sentence and mirror image differ by", printed) > 1e-3
    )
    assert _number("rotary: pooled outputs of sentence and mirror image differ by", printed) > 1e-3
    assert _figures(notebooks["inside_attention"]) == 5
    # 4: one row per registered encoding, and both plots.
    printed = _printed(notebooks["experiment"])
    for encoding in ("sinusoidal", "learned", "rotary", "alibi", "t5", "none"):
        assert f"| {encoding} |" in printed, encoding
    assert _figures(notebooks["experiment"]) == 2
    # 5: a cached decoder gives the full pass's logits; every extension is
    # evaluated at 2x, 4x and 8x; the angles are drawn.
    printed = _printed(notebooks["decoders"])
    assert _number("cached against full pass, largest difference:", printed) < 1e-4
    for kind in ("greedy: ", "sampled:"):  # both continue the prompt
        assert re.search(kind + r" ['\"]the dog ", printed), kind
    for row in ("rotary as trained", "+ linear", "+ ntk", "+ yarn"):
        line = next(line for line in printed.splitlines() if line.startswith(row))
        assert len(line[20:].split()) == (4 if row == "rotary as trained" else 3), line
    assert _figures(notebooks["decoders"]) == 1
