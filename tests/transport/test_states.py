"""The state table's shared definitions are defined once and used everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import lbsim
from lbsim.transport.states import SENDABLE, TRANSITIONS, TcpEvent, TcpState

PACKAGE = Path(lbsim.__file__).parent


def test_sendable_is_established_and_close_wait() -> None:
    """RFC 9293 3.10.2: SEND is accepted in ESTABLISHED and CLOSE-WAIT only."""
    assert frozenset({TcpState.ESTABLISHED, TcpState.CLOSE_WAIT}) == SENDABLE
    # Exactly the states from which a CLOSE still has data to flush and no FIN went.
    assert all((state, TcpEvent.CLOSE) in TRANSITIONS for state in SENDABLE)


def _states(node: ast.AST) -> set[str]:
    """TcpState members an expression mentions (``TcpState.X`` or a ``_X`` alias)."""
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            if n.value.id in ("TcpState", "S"):
                found.add(n.attr)
        elif isinstance(n, ast.Name) and n.id.lstrip("_") in TcpState.__members__:
            found.add(n.id.lstrip("_"))
    return found


def test_no_module_spells_out_the_sendable_states_again() -> None:
    """Issue 11: the set was written out four times; only states.py may define it.

    A tuple, set or list of exactly ESTABLISHED and CLOSE_WAIT, or a test
    ``s is ESTABLISHED or s is CLOSE_WAIT``, anywhere else is a copy.
    """
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "transport" / "states.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            collection = isinstance(node, (ast.Tuple, ast.Set, ast.List, ast.BoolOp))
            if collection and _states(node) == {"ESTABLISHED", "CLOSE_WAIT"}:
                copies.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert copies == []
