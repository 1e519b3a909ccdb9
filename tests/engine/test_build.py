"""The joints between a run and its balancer: registry, interface, fault handlers."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from lbsim.lb.base import Balancer
from lbsim.lb.registry import BALANCERS, make_balancer
from lbsim.run.events import ENDINGS, HANDLERS
from lbsim.scenario.faults import EventAction
from lbsim.sim import build_variant
from scenarios import FREE, scenario

ROOT = Path(__file__).resolve().parents[2]

#: Every kind a scenario can name, with the layer and mode it names.
KINDS = [(4, "nat"), (4, "dsr"), (4, "proxy"), (7, None)]


def _one_of_each() -> object:
    balancers = [
        {"name": f"b{layer}{mode or ''}", "layer": layer, "algorithm": "round_robin"}
        | ({"mode": mode} if mode else {})
        | {"costs": FREE, "health_check": {"interval": "100ms"}}
        for layer, mode in KINDS
    ]
    return scenario(duration="1s", balancers=balancers)


def test_the_registry_has_every_kind_a_scenario_can_name() -> None:
    assert sorted(BALANCERS, key=str) == sorted(KINDS, key=str)


def test_an_unknown_kind_is_a_clear_error() -> None:
    sc = _one_of_each()
    build = build_variant(sc, "b4nat")  # type: ignore[arg-type]
    wiring = build.lb._wiring  # type: ignore[attr-defined]
    wiring.config = wiring.config.model_copy(update={"mode": "tunnel"})
    with pytest.raises(KeyError, match="layer 4, mode 'tunnel'"):
        make_balancer(wiring)


@pytest.mark.parametrize(("layer", "mode"), KINDS)
def test_every_kind_answers_the_interface_through_a_run(layer: int, mode: str | None) -> None:
    """Build, run and ask each kind what the run needs: no kind-specific code in between."""
    sc = _one_of_each()
    build = build_variant(sc, f"b{layer}{mode or ''}")  # type: ignore[arg-type]
    lb = build.lb
    assert isinstance(lb, Balancer) and lb.layer == layer
    assert [b.name for b in lb.backends] == ["web-1"]
    run = build.run()
    counters = lb.counters()
    assert counters["lb.peak_table_entries"] == lb.peak_entries >= 1
    assert set(counters) <= set(run.recorder.counters)
    assert run.recorder.counters["health.checks"] > 0  # probes went out of health_stack()
    assert lb.health_stack() in lb.stacks()
    conn = next(c for c in run.recorder.connections if c.side == "client")
    ip, port = conn.src.split(":")
    placed = lb.placement(int.from_bytes(bytes(int(x) for x in ip.split(".")), "big"), int(port))
    assert placed == ("web-1" if layer == 4 else None)


def test_every_event_action_has_a_handler() -> None:
    assert set(HANDLERS) == set(typing.get_args(EventAction))
    assert set(ENDINGS) <= set(HANDLERS)


def test_no_isinstance_checks_on_balancer_kinds_outside_the_registry() -> None:
    kinds = {"L4Balancer", "L4Proxy", "L7Balancer", "DirectReturn"}
    found = []
    for path in sorted((ROOT / "lbsim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and len(node.args) == 2
            ):
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & kinds:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
