"""Balancers tell their algorithms when a backend joins: scale out and health recovery.

Slow start (weighted algorithms) ramps a backend from the moment it joins; a
backend that comes back after its health checks failed starts its ramp again.
The hook is exercised through the real wiring: a scale-out event, and the health
checker's transition callback.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbsim.scenario import load_scenario
from lbsim.sim import build_variant


def _spy(algorithm: Any, calls: list[tuple[str, str, float]], tag: str) -> None:
    original = algorithm.backend_joined

    def joined(name: str, now: float) -> None:
        calls.append((tag, name, now))
        original(name, now)

    algorithm.backend_joined = joined


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_scale_out_tells_the_algorithm(variant: str) -> None:
    scenario = load_scenario("scale_out", ["duration=21s", "warmup=0s"])
    build = build_variant(scenario, variant)
    calls: list[tuple[str, str, float]] = []
    for i, algorithm in enumerate(build.lb.algorithms()):
        _spy(algorithm, calls, str(i))
    build.run()
    assert calls == [("0", "api-5", pytest.approx(20.0))]


def test_l7_tells_each_route_that_gains_the_backend() -> None:
    sets = [
        "duration=21s",
        "warmup=0s",
        "balancers.1.routes=[{match: {path_prefix: /api/v1/}, group: api}, {group: api}]",
    ]
    build = build_variant(load_scenario("scale_out", sets), "l7")
    calls: list[tuple[str, str, float]] = []
    algorithms = build.lb.algorithms()
    assert len(algorithms) == 2
    for i, algorithm in enumerate(algorithms):
        _spy(algorithm, calls, str(i))
    build.run()
    assert sorted(calls) == [("0", "api-5", 20.0), ("1", "api-5", 20.0)]


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_recovery_restarts_the_ramp_and_going_down_does_not(variant: str) -> None:
    build = build_variant(load_scenario("scale_out", ["duration=1s", "warmup=0s"]), variant)
    lb = build.lb
    calls: list[tuple[str, str, float]] = []
    (algorithm,) = lb.algorithms()
    _spy(algorithm, calls, "a")
    backend = lb.backends[1]
    lb.health_changed(backend, False, 3.0)
    lb.health_changed(backend, True, 7.5)
    assert calls == [("a", backend.name, 7.5)]
