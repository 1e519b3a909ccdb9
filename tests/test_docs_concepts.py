"""docs/concepts.md defines C1-C20 and every place it sends a reader exists.

Each concept has its own ``### Cn · title`` entry with a paraphrase, the bundled
scenario(s) that show it, the notebook section(s) where students see it, and the
tests that guard it. This test fails when a concept loses its entry, a linked file
disappears, a named notebook heading is renamed, or a named test no longer exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from doclinks import DOCS, ROOT, missing_links, missing_tests, named_tests

PAGE = DOCS / "concepts.md"
CONCEPTS = [f"C{i}" for i in range(1, 21)]
NOTEBOOK_LINK = re.compile(r"\[\d\d\]\(\.\./(notebooks/[\w.-]+\.ipynb)\)((?:[^[\n]|\n  )*)")
SECTION = re.compile(r'§ "([^"]+)"')


def entries(text: str) -> dict[str, str]:
    """Concept id -> the text of its entry (up to the next heading)."""
    parts = re.split(r"^### (C\d+) · ", text, flags=re.MULTILINE)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    return {
        cid: re.split(r"^##? ", body, maxsplit=1, flags=re.MULTILINE)[0]
        for cid, body in found.items()
    }


def notebook_headings(path: Path) -> list[str]:
    """Every Markdown heading line of a notebook, without its leading hashes."""
    notebook = nbformat.read(path, as_version=4)
    return [
        line.lstrip("#").strip()
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]


@pytest.fixture(scope="module")
def page() -> dict[str, str]:
    return entries(PAGE.read_text(encoding="utf-8"))


def test_every_concept_has_one_entry(page: dict[str, str]) -> None:
    assert sorted(page, key=lambda c: int(c[1:])) == CONCEPTS


@pytest.mark.parametrize("concept", CONCEPTS)
def test_entry_names_scenario_notebook_and_tests(page: dict[str, str], concept: str) -> None:
    body = page[concept]
    paraphrase = body.split("\n- ", 1)[0].strip()
    assert len(paraphrase.split()) >= 15, f"{concept}: no explanation"
    assert re.search(r"\(\.\./scenarios/\w+\.yaml\)", body), f"{concept}: no scenario"
    assert NOTEBOOK_LINK.search(body), f"{concept}: no notebook"
    assert named_tests(body), f"{concept}: no test"
    assert missing_tests(body) == [], concept


def missing_sections(body: str) -> list[str]:
    """Notebook sections named in ``body`` that the linked notebook does not have."""
    missing = []
    for relative, rest in NOTEBOOK_LINK.findall(body):
        headings = notebook_headings(ROOT / relative)
        sections = SECTION.findall(rest.split(";")[0]) or ["(no section named)"]
        missing += [f"{relative} § {s}" for s in sections if not any(s in h for h in headings)]
    return missing


@pytest.mark.parametrize("concept", CONCEPTS)
def test_named_notebook_sections_exist(page: dict[str, str], concept: str) -> None:
    assert missing_sections(page[concept]) == []


def test_links_and_tests_of_the_whole_page_exist() -> None:
    assert missing_links(PAGE) == []
    assert missing_tests(PAGE.read_text(encoding="utf-8")) == []


def test_a_renamed_or_unnamed_section_is_reported() -> None:
    body = (
        '- Notebook: [03](../notebooks/03_l4_walkthrough.ipynb) § "Re-segmentation", '
        '§ "No such section"; [01](../notebooks/01_osi_layers.ipynb)'
    )
    assert missing_sections(body) == [
        "notebooks/03_l4_walkthrough.ipynb § No such section",
        "notebooks/01_osi_layers.ipynb § (no section named)",
    ]
