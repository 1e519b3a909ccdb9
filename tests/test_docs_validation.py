"""docs/validation.md stays true: every test it names exists, every link resolves.

The page lists each closed-form result and sourced number the suite compares the
simulator with, and the test that checks it. A renamed or deleted test would leave
the page claiming a check nobody runs, so each ``tests/file.py::function`` it
names is looked up here.
"""

from __future__ import annotations

from doclinks import DOCS, missing_links, missing_tests, named_tests

PAGE = DOCS / "validation.md"

#: Topics the page must cover (its level-2 headings).
SECTIONS = (
    "Queueing",
    "Per-request balancing",
    "Placing long-lived connections",
    "Hashing when a backend leaves",
    "TCP and TLS timing",
    "Ports and tables",
    "Stickiness",
    "Health checks",
    "Costs",
)


def test_every_named_test_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert len(named_tests(text)) >= 40
    assert missing_tests(text) == []


def test_every_section_is_there_and_names_a_test() -> None:
    text = PAGE.read_text(encoding="utf-8")
    parts = text.split("\n## ")[1:]
    titles = [part.split("\n", 1)[0] for part in parts]
    for section in SECTIONS:
        matching = [p for t, p in zip(titles, parts, strict=True) if t.startswith(section)]
        assert matching, f"no section {section!r}"
        assert named_tests(matching[0]), f"section {section!r} names no test"


def test_links_resolve() -> None:
    assert missing_links(PAGE) == []


def test_a_missing_test_is_reported() -> None:
    bogus = "`tests/validation/test_theory.py::test_no_such_thing` `tests/nope.py::test_x`"
    assert missing_tests(bogus) == [
        "tests/validation/test_theory.py::test_no_such_thing",
        "tests/nope.py::test_x",
    ]
