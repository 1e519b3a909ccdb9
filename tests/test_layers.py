"""The layer table holds: no package imports what its layer may not, no cycles.

The test walks the abstract syntax tree of every module under ``lbsim/`` and
collects its imports of other ``lbsim`` packages (module-level and inside
functions alike; imports under ``if TYPE_CHECKING:`` are left out, as they make
no dependency at run time). Each edge must be allowed by :data:`LAYERS`, the
same table README.md ("Project layout") and docs/design.md show, and the graph
of packages must have no cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lbsim"

#: Leaf utilities: anyone may import them; they import only each other (no cycle).
LEAVES = frozenset({"records", "streams", "sched", "theory", "scenario", "values"})

#: What each package (or top-level module) may import besides the leaves.
LAYERS: dict[str, frozenset[str]] = {
    "scenario": frozenset(),
    "records": frozenset(),
    "streams": frozenset(),
    "sched": frozenset(),
    "theory": frozenset(),
    "values": frozenset(),
    "net": frozenset(),
    "transport": frozenset({"net"}),
    "app": frozenset({"transport", "net"}),
    "host": frozenset({"net", "transport", "app"}),
    "lb": frozenset({"net", "transport", "app", "host"}),
    "nodes": frozenset({"net", "transport", "app", "host"}),
    "run": frozenset({"net", "transport", "app", "host", "lb", "nodes"}),
    "sim": frozenset({"run", "lb"}),
    "metrics": frozenset(),
    "results": frozenset({"metrics"}),
    "plots": frozenset({"results", "metrics"}),
    "sweep": frozenset({"sim", "results", "metrics"}),
    "report": frozenset({"plots", "results", "sim", "sweep", "metrics"}),
    "teach": frozenset({"capture", "net", "plots", "results", "sim", "metrics"}),
    "capture": frozenset({"app", "net", "sim"}),
    "cli": frozenset({"capture", "plots", "report", "results", "sim", "sweep", "teach", "metrics"}),
    "__main__": frozenset({"cli"}),
    "__init__": frozenset(),
}


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: ``lbsim.lb.l4`` -> ``lb``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Dotted names of ``lbsim`` modules imported at run time, with line numbers."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "lbsim":  # ``from lbsim import metrics``: the names count
                found.append((node.module, node.lineno))
            found.extend((f"{node.module}.{a.name}", node.lineno) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(name, line) for name, line in found if name.split(".")[0] == "lbsim"]


def _edges(root: Path) -> dict[tuple[str, str], str]:
    """Package edges ``(importer, imported) -> "file:line"`` of the tree under ``root``."""
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        src = _unit(".".join(rel.parts))
        for name, line in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            dst = _unit(name)
            if dst != src and dst in LAYERS:
                edges.setdefault((src, dst), f"{path.relative_to(root.parent)}:{line}")
    return edges


def _violations(edges: dict[tuple[str, str], str]) -> list[str]:
    bad = []
    for (src, dst), where in sorted(edges.items()):
        allowed = LAYERS.get(src)
        if allowed is None:
            bad.append(f"{where}: package {src!r} is not in the layer table")
        elif dst not in allowed and dst not in LEAVES:
            bad.append(f"{where}: {src} may not import {dst}")
    return bad


def _cycle(edges: dict[tuple[str, str], str]) -> list[str] | None:
    """A cycle of packages, if there is one."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_import_is_allowed_by_the_layer_table() -> None:
    assert _violations(_edges(PACKAGE)) == []


def test_packages_import_each_other_without_cycles() -> None:
    assert _cycle(_edges(PACKAGE)) is None


def test_the_walk_finds_a_bad_edge_and_a_cycle(tmp_path: Path) -> None:
    """The checks can fail: a tree with lb -> nodes and nodes -> lb trips both."""
    root = tmp_path / "lbsim"
    for pkg, body in {
        "lb": "from lbsim.nodes.backend import Backend\n",
        "nodes": "def f():\n    from lbsim.lb import cpu\n",
        "host": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lbsim.lb import x\n",
    }.items():
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text(body)
    edges = _edges(root)
    assert ("host", "lb") not in edges  # typing-only imports are not dependencies
    assert _violations(edges) == [
        "lbsim/lb/__init__.py:1: lb may not import nodes",
        "lbsim/nodes/__init__.py:2: nodes may not import lb",
    ]
    assert _cycle(edges) == ["lb", "nodes", "lb"]


def _doc_table(path: Path) -> dict[str, frozenset[str]]:
    """The layer table as written in a Markdown file (``| `pkg` | `a`, `b` |`` rows)."""
    text = path.read_text(encoding="utf-8")
    start = text.index("<!-- layer-table -->")
    table: dict[str, frozenset[str]] = {}
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if table:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([\w_]+)`", cells[0])
        if not names or cells[0].startswith("-"):
            continue
        allowed = frozenset(re.findall(r"`([\w_]+)`", cells[1]))
        for name in names:
            table[name] = allowed
    return table


@pytest.mark.parametrize("doc", ["README.md", "docs/design.md"])
def test_the_docs_show_the_same_table(doc: str) -> None:
    table = _doc_table(ROOT / doc)
    expected = {k: v for k, v in LAYERS.items() if k not in LEAVES and not k.startswith("__")}
    assert {k: v for k, v in table.items() if k != "leaves"} == expected
    assert table["leaves"] == LEAVES


#: The engine's layer packages (``transport``'s docstring is being rewritten with
#: its split into modules; it joins this list then).
ENGINE_LAYERS = ("net", "app", "host", "lb", "nodes", "run")


@pytest.mark.parametrize("package", ENGINE_LAYERS)
def test_each_layer_package_says_what_it_holds_and_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert doc is not None and doc != "Package."
    assert "import" in doc  # it names what the package may import
