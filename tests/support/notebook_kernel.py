"""Shared by the notebook tests: a kernel of the interpreter under test, and cell reading.

The notebook tests execute notebooks with nbclient in a kernel started from this very
interpreter (a kernelspec written into a temporary Jupyter data directory), so the
kernel imports the lbsim under test whatever kernels the machine has installed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "lbsim-tests"
#: Seconds one cell may run (the slowest cells simulate a few runs of a few seconds).
CELL_TIMEOUT = 240


def write_kernelspec(data: Path) -> Path:
    """Write a kernelspec for this interpreter under the Jupyter data directory ``data``."""
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lbsim tests",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return data


def said(cell: nbformat.NotebookNode) -> str:
    """Everything a cell showed as text: printed lines and displayed sentences."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("display_data", "execute_result"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def inject(source: str, name: str, value: str) -> str:
    """``source`` with the line that sets ``name`` setting it to ``value`` (papermill-style)."""
    pattern = rf"^{name} = [^#\n]*"
    assert re.search(pattern, source, flags=re.MULTILINE), f"no '{name} = ' line"
    return re.sub(pattern, f"{name} = {value}  ", source, count=1, flags=re.MULTILINE)


def self_checks(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """The code cells among ``cells`` that run a self-check (the setup cell aside)."""
    return [
        c
        for c in cells
        if c.cell_type == "code"
        and "self_check(" in c.source
        and "setup" not in c.metadata.get("tags", [])
    ]
