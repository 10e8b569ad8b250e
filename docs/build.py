"""Runs the guides and writes them as notebooks with their real outputs.

    python docs/build.py [GUIDE ...] [--output-dir DIR] [--small]

Each guide in `docs/guides/` is a Python file in the percent format (`# %%`
starts a code cell, `# %% [markdown]` a prose cell of `# ` comment lines),
which `python docs/guides/NAME.py` also runs as it is. This script runs
every cell in order, in one namespace, the way a notebook does, and writes
`NAME.ipynb` to `--output-dir` (default `docs/build/`, not committed: the
notebooks are made from the guides, never edited by hand) with what each cell
printed, the figures it drew (`plt.show()`) and the value of its last
expression. `--small` sets `KERAS_POSEMB_GUIDE_SMALL=1`: every guide then
runs at a tiny size (the tests use it). A cell that raises stops the build
with the guide, the cell and the traceback, and exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path

GUIDES = Path(__file__).resolve().parent / "guides"
# Reading order: the README lists them the same way.
ORDER = [
    "why_position_matters", "sinusoidal_and_learned", "inside_attention", "experiment", "decoders",
    "vision",
]  # fmt: skip
# The notebooks' figures: sharp on a high-density screen, a few hundred kB each.
FIGURE_DPI = 120
CELL_MARK = "# %%"
MARKDOWN_MARK = "# %% [markdown]"


class CellError(Exception):
    """A guide's cell raised; the message names the guide and the cell."""


def parse_cells(text: str) -> list[tuple[str, str]]:
    """`(kind, source)` per cell of a percent-format file; kind is "code" or "markdown".

    Markdown cells lose their `# ` prefixes; blank lines around a cell go.
    Lines before the first marker form a code cell of their own.
    """
    cells, kind, lines = [], "code", []

    def close():
        source = "\n".join(lines).strip("\n")
        if source:
            cells.append((kind, source))

    for line in text.splitlines():
        if line.startswith(CELL_MARK):
            close()
            kind, lines = ("markdown" if line.startswith(MARKDOWN_MARK) else "code"), []
        elif kind == "markdown":
            if line and not line.startswith("#"):
                raise ValueError(f"A markdown cell has a line that is not a comment: {line!r}")
            lines.append(line[2:] if line.startswith("# ") else line[1:])
        else:
            lines.append(line)
    close()
    return cells


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_output(figure) -> dict:
    return {
        "output_type": "display_data",
        "data": {"image/png": _png(figure), "text/plain": [repr(figure)]},
        "metadata": {},
    }


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


class Kernel:
    """Runs cells in one namespace, as a notebook's kernel does."""

    def __init__(self, name: str):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.plt, self.name, self.count = plt, name, 0
        self.namespace = {"__name__": "__main__", "__file__": str(GUIDES / f"{name}.py")}

    def run(self, source: str) -> list[dict]:
        """Runs one code cell; returns its notebook outputs."""
        self.count += 1
        figures, outputs = [], []
        stdout, stderr = io.StringIO(), io.StringIO()
        self.plt.show = lambda *args, **kwargs: self._take_figures(figures)
        tree, where = ast.parse(source), f"<{self.name} cell {self.count}>"
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(compile(tree, where, "exec"), self.namespace)
                value = None
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), where, "eval"), self.namespace)
        except Exception as error:
            raise CellError(
                f"{self.name}.py, code cell {self.count} raised:\n{traceback.format_exc()}\n"
                f"What the cell printed:\n{stdout.getvalue()}{stderr.getvalue()}"
            ) from error
        self._take_figures(figures)  # Drawn without plt.show(): shown at the end, as Jupyter does.
        for name, stream in (("stdout", stdout), ("stderr", stderr)):
            if stream.getvalue():
                outputs.append(
                    {"output_type": "stream", "name": name, "text": _lines(stream.getvalue())}
                )
        outputs += [_figure_output(figure) for figure in figures]
        outputs += self._result(value)
        return outputs

    def _take_figures(self, figures):
        for number in self.plt.get_fignums():
            figures.append(self.plt.figure(number))
        self.plt.close("all")

    def _result(self, value) -> list[dict]:
        from matplotlib.figure import Figure

        if value is None:
            return []
        if isinstance(value, Figure):
            return [_figure_output(value)]
        return [
            {
                "output_type": "execute_result",
                "execution_count": self.count,
                "data": {"text/plain": _lines(repr(value))},
                "metadata": {},
            }
        ]


def run_guide(name: str) -> dict:
    """Runs guide `name` cell by cell; returns it as a notebook (nbformat 4)."""
    kernel, cells = Kernel(name), []
    for kind, source in parse_cells((GUIDES / f"{name}.py").read_text(encoding="utf-8")):
        cell = {"cell_type": kind, "metadata": {}, "source": _lines(source)}
        if kind == "code":
            cell.update(outputs=kernel.run(source), execution_count=kernel.count)
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def write_notebook(notebook: dict, path: Path) -> None:
    """Writes `path` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(
        json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("guides", nargs="*", metavar="GUIDE",
                        help=f"guides to build (default: all): {', '.join(ORDER)}")  # fmt: skip
    parser.add_argument("--output-dir", default=str(GUIDES.parent / "build"),
                        help="where the notebooks go (default: docs/build)")  # fmt: skip
    parser.add_argument("--small", action="store_true", help="run the guides at a tiny size")
    args = parser.parse_args(argv)
    unknown = [name for name in args.guides if name not in ORDER]
    if unknown:
        parser.error(f"unknown guide {unknown[0]!r}; expected one of {', '.join(ORDER)}")
    if args.small:
        os.environ["KERAS_POSEMB_GUIDE_SMALL"] = "1"
    for name in args.guides or ORDER:
        print(f"Running {name}.py ...", flush=True)
        try:
            notebook = run_guide(name)
        except CellError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        path = Path(args.output_dir) / f"{name}.ipynb"
        write_notebook(notebook, path)
        print(f"  wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
