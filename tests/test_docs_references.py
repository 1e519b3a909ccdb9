"""The repository stands alone: no file points at documents it does not contain.

The project's own explanations live in ``docs/`` (validation, design, concepts). A
reference to a planning document kept outside the repository would send a reader
nowhere, so every tracked text file is scanned for the names of such documents.
The forbidden names are built by concatenation, so this file does not match itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = "." + "md"
FORBIDDEN = (
    *(name + SUFFIX for name in ("VALID" + "ATION", "DES" + "IGN", "STY" + "LE", "CON" + "CEPTS")),
    ".." + "/" + "shared",
)
BINARY = {".png", ".svg", ".pcap", ".gz", ".zip"}


def tracked_text_files() -> list[Path]:
    """Every file git tracks in the repository, except images and archives."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [p for p in paths if p.suffix.lower() not in BINARY and p.is_file()]


def offending_lines(text: str) -> list[str]:
    """The lines of ``text`` that name a document outside the repository."""
    return [line.strip() for line in text.splitlines() if any(n in line for n in FORBIDDEN)]


def test_the_scan_finds_what_it_looks_for() -> None:
    assert offending_lines("see " + FORBIDDEN[0] + ", Costs") == ["see " + FORBIDDEN[0] + ", Costs"]
    assert offending_lines("see docs/validation.md, Costs") == []


def test_no_tracked_file_names_an_outside_document() -> None:
    files = tracked_text_files()
    if not files:
        pytest.skip("not a git checkout")
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}: {line}" for line in offending_lines(text)]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)
