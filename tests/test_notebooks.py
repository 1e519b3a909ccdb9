"""The class notebooks: each one runs top to bottom without an error, self-checks included.

Every notebook in ``notebooks/`` is executed with nbclient in a fresh kernel of the
interpreter running the tests (a kernelspec written for the session, so the kernel
imports the lbsim under test whatever kernels the machine has installed). A cell that
raises, including a failing self-check ``assert``, fails the test. Notebooks are
committed with their outputs stripped (see ``notebooks/README.md``); the policy and
the teacher's guide's concept map are checked here too.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
#: Seconds one cell may run (the slowest cells simulate a few runs of a few seconds).
CELL_TIMEOUT = 240
#: A notebook must run in under a minute on a 2-core machine; this guard is twice that,
#: so a slow CI machine does not fail the build but a runaway notebook does.
NOTEBOOK_BUDGET = 120.0
#: Largest notebook file on disk.
MAX_BYTES = 2_000_000
CONCEPTS = [f"C{i}" for i in range(1, 21)]


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory with a kernelspec for this very interpreter."""
    data = tmp_path_factory.mktemp("jupyter")
    spec = data / "kernels" / "lbsim-tests"
    spec.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lbsim tests",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return data


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
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="lbsim-tests",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - started
    assert elapsed < NOTEBOOK_BUDGET, f"{path.name} took {elapsed:.0f} s"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    checks = [c for c in code if "self_check(" in c.source and "def self_check" not in c.source]
    assert checks, f"{path.name} has no self-check cell"
    for cell in checks:
        said = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert "✅" in said, f"{path.name}: a self-check cell printed no success:\n{cell.source}"
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
