"""Circuit breakers per backend group at layer 7 (Envoy's max_requests / max_pending).

The exact check: on a network that adds no delay and a balancer that spends no
CPU, a request is in progress at the balancer from its ``t_start`` to its
``t_end``. Every request is then refused (503, outcome ``rejected``) exactly
when the admitted requests already in progress to the group reach the limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbsim.records import RequestRecord
from lbsim.scenario import ScenarioError
from lbsim.sim import run_variant
from scenarios import FREE, NEGLIGIBLE_NETWORK, scenario


def _breaker_scenario(breakers: dict[str, Any] | None, group: str = "api", **balancer: Any) -> Any:
    l7: dict[str, Any] = {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE}
    l7.update(balancer)
    if breakers is not None:
        l7["circuit_breakers"] = breakers
    return scenario(
        duration="20s",
        network=NEGLIGIBLE_NETWORK,
        # Enough workers that nothing queues at the backends: 300 ms per call.
        backends=[
            {"group": "api", "count": 2, "workers": 10, "service_time": "300ms"},
            {"group": "web", "count": 1, "workers": 10, "service_time": "300ms"},
        ],
        clients=[
            {
                "name": "c",
                "count": 6,
                "think_time": "exp(100ms)",
                "requests_per_connection": 1000,
                "requests": [{"path": "/", "size": "200B", "response": "200B"}],
            }
        ],
        balancers=[{**l7, "groups": [group]}],
    )


def _in_progress(records: list[RequestRecord], at: RequestRecord) -> int:
    return sum(
        1
        for r in records
        if r is not at and r.outcome == "ok" and r.t_start <= at.t_start < r.t_end
    )


@pytest.mark.parametrize(
    ("group", "breakers", "balancer"),
    [
        # Two backends, at most 2 requests in progress over both.
        ("api", {"api": {"max_requests": 2}}, {}),
        # One backend, one pooled connection: 1 sent + at most 1 waiting for it.
        ("web", {"web": {"max_pending_requests": 1}}, {"pool": {"max": 1}}),
    ],
    ids=["max_requests", "max_pending_requests"],
)
def test_rejections_appear_exactly_when_in_flight_reaches_the_limit(
    group: str, breakers: dict[str, Any], balancer: dict[str, Any]
) -> None:
    sc = _breaker_scenario(breakers, group, **balancer)
    run = run_variant(sc, "l7")
    records = run.recorder.requests
    rejected = [r for r in records if r.outcome == "rejected"]
    assert len(records) > 300 and len(rejected) > 50  # both cases occur many times
    assert {r.outcome for r in records} == {"ok", "rejected"}
    limit = 2
    for r in records:
        assert (r.outcome == "rejected") == (_in_progress(records, r) >= limit), r
        if r.outcome == "rejected":
            assert r.status == 503 and r.backend is None
            assert r.t_end - r.t_start < 0.001  # answered at once, never queued
    counters = run.recorder.counters
    assert counters[f"lb.breaker_trips.{group}"] == len(rejected)
    assert counters["lb.breaker_trips"] == len(rejected)


def test_without_breakers_nothing_is_refused() -> None:
    run = run_variant(_breaker_scenario(None), "l7")
    assert {r.outcome for r in run.recorder.requests} == {"ok"}
    assert "lb.breaker_trips" not in run.recorder.counters


def test_limits_are_per_group() -> None:
    # A breaker on the other group never trips: api's requests are not counted there.
    run = run_variant(
        _breaker_scenario({"web": {"max_requests": 1}, "api": {"max_requests": 6}}), "l7"
    )
    assert {r.outcome for r in run.recorder.requests} == {"ok"}
    assert run.recorder.counters["lb.breaker_trips.web"] == 0


def test_circuit_breakers_refused_at_layer_4() -> None:
    with pytest.raises(ScenarioError, match=r"circuit_breakers.*cannot count requests"):
        scenario(
            balancers=[
                {
                    "name": "l4",
                    "layer": 4,
                    "algorithm": "round_robin",
                    "circuit_breakers": {"web": {"max_requests": 5}},
                }
            ]
        )


def test_circuit_breakers_name_known_groups() -> None:
    with pytest.raises(ScenarioError, match='no backend group "nope"'):
        scenario(
            balancers=[
                {
                    "name": "l7",
                    "layer": 7,
                    "algorithm": "round_robin",
                    "circuit_breakers": {"nope": {"max_requests": 5}},
                }
            ]
        )
