"""Every "Try it" value a notebook suggests works: the notebook's own checks pass with it.

A notebook suggests values in the comment of the line that sets a parameter, in one
form the test reads: ``RATE = 250  # try 350, 300, 200 or 120`` (Python literals,
separated by commas and "or"). The cells an exercise needs are tagged ``tryit-RATE``.
For each parameter the test starts one kernel and runs the setup cell and the tagged
cells before the one that sets the parameter (the preparation, once); then, for each
suggested value in turn, it injects the value into that line (as papermill does with a
parameters cell) and runs that cell and the tagged cells after it, as a student who
changes the value and re-runs would. Every cell must run without an error, every
self-check must show ✅, and the grading cell, with no prediction set, must ask for one
instead of failing. So a suggestion that makes a self-check fail for no fault of the
student fails here first.
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


def suggestions() -> dict[tuple[str, str], list[str]]:
    """{(notebook file, parameter): [value as Python source, ...]} for every suggestion."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for match in TRY.finditer(cell.source):
                text = match["values"].replace(" or ", ", ")
                values = [repr(v) for v in ast.literal_eval(f"[{text}]")]
                found.setdefault((path.name, match["name"]), []).extend(values)
    return found


SUGGESTIONS = suggestions()


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory with a kernelspec for this very interpreter."""
    return write_kernelspec(tmp_path_factory.mktemp("jupyter"))


def test_every_notebook_suggests_values() -> None:
    assert {name for name, _ in SUGGESTIONS} == {p.name for p in NOTEBOOKS}
    assert SUGGESTIONS["02_why_balance.ipynb", "RATE"] == ["350", "300", "200", "120"]
    assert SUGGESTIONS["07_costs.ipynb", "PER_REQUEST"] == ["'2ms'", "'30us'"]
    assert sum(len(v) for v in SUGGESTIONS.values()) >= 30


@pytest.mark.parametrize(
    ("name", "parameter"), list(SUGGESTIONS), ids=[f"{n[:2]}-{p}" for n, p in SUGGESTIONS]
)
def test_try_it_values_pass_the_checks(
    name: str, parameter: str, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    tag = f"tryit-{parameter}"
    cells = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and {"setup", tag} & set(c.metadata.get("tags", []))
    ]
    setting = [
        i for i, c in enumerate(cells) if re.search(rf"^{parameter} = .*\btry ", c.source, re.M)
    ]
    assert len(setting) == 1, f"{name}: the cell setting {parameter} must be tagged {tag}"
    prepare, exercise = cells[: setting[0]], cells[setting[0] :]
    assert self_checks(exercise), f"{name}: no self-check runs after {parameter} is set"
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    original = exercise[0].source
    with client.setup_kernel():
        for index, cell in enumerate(prepare):
            client.execute_cell(cell, index)
        for value in SUGGESTIONS[name, parameter]:
            exercise[0].source = inject(original, parameter, value)
            for index, cell in enumerate(exercise, start=len(prepare)):
                client.execute_cell(cell, index)  # raises with the NotYet message
            for cell in self_checks(exercise):
                assert "✅" in said(cell), f"{name} {parameter} = {value}:\n{cell.source}"
            for cell in exercise:
                if "grade" in cell.metadata.get("tags", []):
                    assert "Make a prediction first" in said(cell), f"{parameter} = {value}"
