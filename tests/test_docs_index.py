"""docs/index.md maps every page of the documentation, and the README points to it.

The index sorts pages into tutorials, how-to guides, reference and explanation. A
page added under ``docs/`` without an index entry would be hard to find, and a link
to a page that was moved would lead nowhere; both fail here.
"""

from __future__ import annotations

from doclinks import DOCS, ROOT, missing_links, relative_links

INDEX = DOCS / "index.md"
KINDS = ("Tutorials", "How-to guides", "Reference", "Explanation")


def test_index_has_the_four_kinds_in_order() -> None:
    headings = [
        line[3:]
        for line in INDEX.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    assert [h.split(":")[0] for h in headings] == list(KINDS)


def test_every_docs_page_is_in_the_index() -> None:
    linked = {
        (DOCS / target.split("#")[0]).resolve()
        for target in relative_links(INDEX.read_text(encoding="utf-8"))
    }
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p != INDEX}
    assert sorted(str(p.relative_to(DOCS)) for p in pages - linked) == []


def test_index_links_resolve_and_readme_points_to_it() -> None:
    assert missing_links(INDEX) == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/index.md)" in readme.split("## Documentation", 1)[1]
    assert missing_links(ROOT / "README.md") == []


def test_every_link_in_the_docs_resolves() -> None:
    pages = [*sorted(DOCS.rglob("*.md")), ROOT / "notebooks" / "README.md"]
    broken = {str(p.relative_to(ROOT)): missing_links(p) for p in pages}
    assert {page: links for page, links in broken.items() if links} == {}
