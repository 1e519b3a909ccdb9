"""Helpers for tests that keep the documentation's links true.

Theory of operation: the explanation pages (``docs/concepts.md``,
``docs/validation.md``) name tests as ``tests/path.py::test_function`` and link
files with ordinary relative Markdown links. These helpers find both kinds of
reference in a page and say whether each target exists: a test function is looked
up in the module's syntax tree (no import, so a page check stays cheap and cannot
run test code), and a link is resolved relative to the page that holds it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

TEST_REFERENCE = re.compile(r"`(tests/[\w/.-]+\.py)::(\w+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@cache
def functions_in(path: Path) -> frozenset[str]:
    """Names of every function (and method) defined in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def named_tests(text: str) -> list[tuple[str, str]]:
    """Every ``tests/file.py::function`` named in ``text``, in order."""
    return TEST_REFERENCE.findall(text)


def missing_tests(text: str) -> list[str]:
    """The named tests whose file or function does not exist."""
    missing = []
    for relative, name in named_tests(text):
        path = ROOT / relative
        if not path.is_file() or name not in functions_in(path):
            missing.append(f"{relative}::{name}")
    return missing


def relative_links(text: str) -> list[str]:
    """Targets of the Markdown links in ``text`` that point inside the repository."""
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]


def missing_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file (anchor ignored) does not exist."""
    text = page.read_text(encoding="utf-8")
    return [
        target
        for target in relative_links(text)
        if not (page.parent / target.split("#", 1)[0]).exists()
    ]
