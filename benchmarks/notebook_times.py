"""Class notebooks: execution time, reading load and exercises, for the teacher's guide.

Run from the repository root::

    python benchmarks/notebook_times.py            # every notebook
    python benchmarks/notebook_times.py 05 07      # some of them

Each notebook is executed top to bottom with nbclient in a fresh kernel of this
interpreter, as ``tests/test_notebooks.py`` does (a kernelspec written into a
temporary Jupyter data directory). For each notebook it reports the wall-clock time
of the execution, the CPU time the kernel used (its own ``getrusage``, read by a last
cell: on an idle machine the wall time is close to it, on a shared one it is longer),
the words of prose in its markdown cells, and how many exercises (cells that set
``PREDICTION``), self-checks and live panels it has.

The last column is the class-time model of ``notebooks/README.md``: prose read at
100 words per minute (technical text read with the code beside it and a lecturer's
comments, well below the 200-250 words per minute of ordinary reading), 1.5 minutes
per code cell to read it, run it and look at its table or figure, 10 minutes per
graded exercise (predict, discuss the predictions, run, compare, try one or two of
the suggested values), 5 minutes per live panel, plus the execution time itself. It is a
planning estimate, not a measurement of a class. This is a benchmark, not a test:
it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
KERNEL = "lbsim-bench"

#: Class-time model (minutes): see the module docstring.
WORDS_PER_MINUTE = 100.0
PER_CODE_CELL = 1.5
PER_EXERCISE = 10.0
PER_PANEL = 5.0

_USAGE = (
    "import resource as _r\n"
    "_u = _r.getrusage(_r.RUSAGE_SELF)\n"
    "print('CPU', _u.ru_utime + _u.ru_stime)"
)


def _kernelspec(data: Path) -> None:
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lbsim benchmark",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")


def _printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("text"))


def measure(path: Path) -> dict[str, float]:
    """Execute one notebook; its times, prose words and exercise counts."""
    notebook = nbformat.read(path, as_version=4)
    prose = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    exercises = sum(bool(re.search(r"^PREDICTION = ", c.source, re.M)) for c in code)
    panels = sum(bool(re.search(r"^\w+ = panel\(", c.source, re.M)) for c in code)
    checks = sum("self_check(" in c.source for c in code)
    usage = nbformat.v4.new_code_cell(_USAGE)
    notebook.cells.append(usage)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    started = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - started
    cpu = float(_printed(notebook.cells[-1]).split()[-1])
    words = sum(len(re.findall(r"\w+", text)) for text in prose)
    minutes = (
        words / WORDS_PER_MINUTE
        + PER_CODE_CELL * (len(code) - exercises - panels)
        + PER_EXERCISE * exercises
        + PER_PANEL * panels
        + wall / 60.0
    )
    return {
        "wall": wall,
        "cpu": cpu,
        "words": words,
        "code": len(code),
        "exercises": exercises,
        "checks": checks,
        "panels": panels,
        "minutes": minutes,
    }


def main() -> None:
    """Measure the notebooks named on the command line (default: all) and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", help="notebook numbers (default: all)")
    args = parser.parse_args()
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if args.numbers:
        paths = [p for p in paths if p.name[:2] in args.numbers]
    with tempfile.TemporaryDirectory() as data:
        _kernelspec(Path(data))
        os.environ["JUPYTER_PATH"] = data
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        print(
            "notebook              wall s  kernel CPU s  words  code  exercises  "
            "checks  panels  model min"
        )
        for path in paths:
            m = measure(path)
            print(
                f"{path.stem:<22}{m['wall']:6.1f}  {m['cpu']:12.1f}  {m['words']:5.0f}  "
                f"{m['code']:4.0f}  {m['exercises']:9.0f}  {m['checks']:6.0f}  "
                f"{m['panels']:6.0f}  {m['minutes']:9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
