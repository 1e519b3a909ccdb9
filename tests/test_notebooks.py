"""The class notebooks: each one runs top to bottom without an error, self-checks included.

Every notebook in ``notebooks/`` is executed with nbclient in a fresh kernel of the
interpreter running the tests (a kernelspec written for the session, so the kernel
imports the lbsim under test whatever kernels the machine has installed). A cell that
raises, including a failing self-check, fails the test. In the same kernel the
student's prediction is then graded three ways: a wrong one (from the teacher's
answers, :func:`lbsim.teach.notebook.answers`), which runs with the whole notebook; a
right one; and none. Each verdict must differ, and none may raise. The live controls
are driven once (a control's value changed, as a student would), which re-runs the
simulation and redraws. Notebooks are committed with their outputs stripped (see
``notebooks/README.md``); the policy and the teacher's guide's concept map are
checked here too.
"""

from __future__ import annotations

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

from lbsim.teach.notebook import answers

# No wall-clock budget here (timed tests fail on a shared machine that stalls): a
# runaway cell hits CELL_TIMEOUT, and benchmarks/notebook_times.py reports run times.
#: Largest notebook file on disk.
MAX_BYTES = 2_000_000
CONCEPTS = [f"C{i}" for i in range(1, 21)]


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory with a kernelspec for this very interpreter."""
    return write_kernelspec(tmp_path_factory.mktemp("jupyter"))


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 7
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_stripped_and_small(path: Path) -> None:
    assert path.stat().st_size < MAX_BYTES
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index + 1}: outputs committed"
            assert cell.execution_count is None, f"{path.name} cell {index + 1}: execution count"
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    text = "\n".join(c.source for c in notebook.cells)
    assert "Learning goals" in text and "Try it" in text and "Self-check" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    (answer,) = answers(path.name[:2])
    predicting = [c for c in notebook.cells if re.search(rf"^{answer.name} = ", c.source, re.M)]
    assert len(predicting) == 1, f"{path.name}: one cell must set {answer.name}"
    predicting[0].source = inject(predicting[0].source, answer.name, repr(answer.wrong))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    graders = [c for c in notebook.cells if "grade" in c.metadata.get("tags", [])]
    assert graders, f"{path.name} grades no prediction"
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on an error
        wrong = said(graders[0])
        verdicts = {}
        for value in (repr(answer.value), "None"):
            extra = nbformat.v4.new_code_cell(f"{answer.name} = {value}\n" + graders[0].source)
            notebook.cells.append(extra)
            client.execute_cell(extra, len(notebook.cells) - 1)
            verdicts[value] = said(extra)
        if "live = panel(" in "".join(c.source for c in notebook.cells):
            drive = nbformat.v4.new_code_cell(
                "first = live.widget.children[0].children[0]\n"
                "options = getattr(first, 'options', None)\n"
                "first.value = options[-1] if options else first.max\n"
                "print(f'redraw took {live.seconds:.2f} s')"
            )
            notebook.cells.append(drive)
            client.execute_cell(drive, len(notebook.cells) - 1)
            assert "redraw took" in said(drive)
    assert "Wrong" in wrong or "Not quite" in wrong, f"{path.name}: wrong prediction: {wrong!r}"
    assert "Right" in verdicts[repr(answer.value)], f"{path.name}: {verdicts}"
    assert "Make a prediction first" in verdicts["None"], f"{path.name}: {verdicts}"
    assert "Traceback" not in wrong + "".join(verdicts.values())
    code = [c for c in notebook.cells if c.cell_type == "code"]
    checks = self_checks(code)
    assert checks, f"{path.name} has no self-check cell"
    for cell in checks:
        assert "✅" in said(cell), f"{path.name}: a self-check showed no success:\n{cell.source}"
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images >= 1, f"{path.name}: no figure was displayed"


def test_teachers_guide_maps_every_concept() -> None:
    guide = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    # Rows of the concept map: | C7 | 03 | 03 § 3 ...: cells 15–16, check 17 |
    rows = re.findall(r"^\| (C\d+) \| ([^|]*)\| ([^|]*)\|", guide, flags=re.MULTILINE)
    assert sorted((r[0] for r in rows), key=lambda c: int(c[1:])) == CONCEPTS
    notebooks = {p.name[:2]: nbformat.read(p, as_version=4) for p in NOTEBOOKS}
    for concept, named, where in rows:
        numbers = re.findall(r"\b(\d\d)\b", named)
        assert numbers, f"{concept}: no notebook named in the guide"
        for number in numbers:
            assert number in notebooks, f"{concept}: no notebook {number}"
            text = "\n".join(c.source for c in notebooks[number].cells)
            found = re.search(rf"\b{concept}\b", text)
            assert found, f"{concept} is not mentioned in notebook {number}"
        # Every "check N" must point at a self-check cell of the notebook it follows.
        parts = re.split(r"(?<![\w–])(\d\d)(?=:| §)", where)
        for number, text in zip(parts[1::2], parts[2::2], strict=True):
            cells = notebooks[number].cells
            for cell_number in re.findall(r"check (\d+)", text):
                cell = cells[int(cell_number) - 1]
                assert "self_check(" in cell.source, f"{concept}: {number} cell {cell_number}"
    for path in NOTEBOOKS:
        assert path.name in guide, f"{path.name} is missing from the teacher's guide"
