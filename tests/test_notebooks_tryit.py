"""Every "Try it" value a notebook suggests works: the notebook's own checks pass with it.

A notebook suggests values in the comment of the line that sets a parameter, in one
form the test reads: ``RATE = 250  # try 350, 300, 200 or 120`` (Python literals,
separated by commas and "or"). For each suggested value the test injects it into that
line (as papermill does with a parameters cell) and runs, in a fresh kernel, the setup
cell and the cells the exercise needs: those tagged ``tryit-RATE``. Every cell must run
without an error, every self-check among them must show ✅, and the grading cell, with
no prediction set, must ask for one instead of failing. So a suggestion that makes a
self-check fail for no fault of the student fails here first.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_kernel import (
    CELL_TIMEOUT,
    KERNEL,
    NOTEBOOK_DIR,
    NOTEBOOKS,
    inject,
    said,
    self_checks,
    write_kernelspec,
)

#: ``NAME = default  # anything; try A, B or C``
TRY = re.compile(r"^(?P<name>[A-Z][A-Z_0-9]*) = [^#\n]*#[^\n]*?\btry (?P<values>[^\n]+)$", re.M)


def suggestions() -> list[tuple[str, str, str]]:
    """(notebook file, parameter, value as Python source) for every suggestion."""
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for match in TRY.finditer(cell.source):
                text = match["values"].replace(" or ", ", ")
                for value in ast.literal_eval(f"[{text}]"):
                    found.append((path.name, match["name"], repr(value)))
    return found


SUGGESTIONS = suggestions()


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory with a kernelspec for this very interpreter."""
    return write_kernelspec(tmp_path_factory.mktemp("jupyter"))


def test_every_try_it_names_values() -> None:
    notebooks = {name for name, _, _ in SUGGESTIONS}
    assert notebooks == {p.name for p in NOTEBOOKS}, "every notebook suggests values to try"
    assert ("02_why_balance.ipynb", "RATE", "300") in SUGGESTIONS
    assert ("07_costs.ipynb", "PER_REQUEST", "'30us'") in SUGGESTIONS


@pytest.mark.parametrize(
    ("name", "parameter", "value"), SUGGESTIONS, ids=[f"{n[:2]}-{p}={v}" for n, p, v in SUGGESTIONS]
)
def test_try_it_value_passes_the_checks(
    name: str, parameter: str, value: str, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    tag = f"tryit-{parameter}"
    cells = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and ({"setup", tag} & set(c.metadata.get("tags", [])))
    ]
    setting = [c for c in cells if re.search(rf"^{parameter} = ", c.source, re.M)]
    assert len(setting) == 1, f"{name}: the cell setting {parameter} must be tagged {tag}"
    setting[0].source = inject(setting[0].source, parameter, value)
    notebook.cells = cells
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError (with the NotYet message) on a failing check
    checks = self_checks(cells)
    assert checks, f"{name}: no self-check runs with {parameter}"
    for cell in checks:
        assert "✅" in said(cell), f"{name} {parameter}={value}:\n{cell.source}"
    for cell in cells:
        if "grade" in cell.metadata.get("tags", []):
            assert "Make a prediction first" in said(cell)
