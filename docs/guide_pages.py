"""A page of the docs site per guide: an mkdocs hook (`hooks:` in mkdocs.yml).

Each guide in `docs/guides/` becomes `guides/NAME.md`: its prose cells as
Markdown and its code cells as Python blocks, in the order of the guide.
Where `python docs/build.py` has run it, the notebook it wrote
(`docs/build/NAME.ipynb`) gives each code cell's outputs too: what it
printed, and its figures as images beside the page. Otherwise the page says
how to run the guide to see them.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent


def _load_build():
    """`docs/build.py`, beside this file, loaded by path: `docs/` on
    `sys.path` would make its folders (`images`) importable packages."""
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_build = _load_build()
GUIDES, ORDER, parse_cells = _build.GUIDES, _build.ORDER, _build.parse_cells

NOTEBOOKS = DOCS / "build"


def _cells(name: str) -> tuple[list[dict], bool]:
    """The guide's cells as notebook cells, with outputs if it was built."""
    built = NOTEBOOKS / f"{name}.ipynb"
    if built.exists():
        cells = json.loads(built.read_text(encoding="utf-8"))["cells"]
        return [{**cell, "source": "".join(cell["source"])} for cell in cells], True
    source = (GUIDES / f"{name}.py").read_text(encoding="utf-8")
    return [{"cell_type": kind, "source": text} for kind, text in parse_cells(source)], False


def _outputs(cell: dict, name: str, figures: dict[str, bytes]) -> list[str]:
    parts = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data:
            path = f"{name}_figure_{len(figures) + 1}.png"
            figures[path] = base64.b64decode(data["image/png"])
            parts.append(f"![A figure of the guide]({path})")
            continue
        text = "".join(output.get("text", data.get("text/plain", "")))
        if text.strip():
            parts.append("```text\n" + text.rstrip() + "\n```")
    return parts


def guide_page(name: str) -> tuple[str, dict[str, bytes]]:
    """`(Markdown, {file name: PNG bytes})` of a guide's page."""
    cells, built = _cells(name)
    parts, figures = [], {}
    for cell in cells:
        if cell["cell_type"] == "markdown":
            parts.append(cell["source"])
        else:
            parts.append("```python\n" + cell["source"] + "\n```")
            parts += _outputs(cell, name, figures)
    if not built:
        parts.insert(
            1,
            f"*This page shows the guide's code; run `python docs/guides/{name}.py` to see "
            "what it prints and draws, or `python docs/build.py` to build every guide as a "
            "notebook and this site with their outputs.*",
        )
    return "\n\n".join(parts) + "\n", figures


def on_files(files, config):
    for name in ORDER:
        markdown, figures = guide_page(name)
        files.append(File.generated(config, f"guides/{name}.md", content=markdown))
        for path, png in figures.items():
            files.append(File.generated(config, f"guides/{path}", content=png))
    return files
