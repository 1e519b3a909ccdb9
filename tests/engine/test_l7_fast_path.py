"""The layer-7 proxy's fused request path decides exactly as its general code.

``L7Balancer.fast_path`` (lbsim/lb/l7_requests.py) lets the common case skip the
edge, the per-try record and several calls; these tests run the same scenario
with it and with it switched off and ask for identical records, and check that
every feature that needs the general code switches it off.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbsim.lb.l7 import L7Balancer
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import Router, Rule
from lbsim.sim import build_variant
from scenarios import scenario

FOUR = [{"group": "web", "count": 4, "workers": 4, "service_time": "exp(5ms)"}]
USERS = [
    {
        "name": "c",
        "count": 8,
        "requests_per_connection": 5,
        "think_time": "exp(20ms)",
        "requests": [
            {"path": "/", "size": "400B", "response": "2KB", "weight": 3},
            {"path": "/big", "size": "400B", "response": "60KB"},
        ],
    }
]


def _l7(balancer: dict[str, Any], **top: Any) -> Any:
    cfg = {"name": "l7", "layer": 7, "algorithm": "round_robin", **balancer}
    data: dict[str, Any] = {"backends": FOUR, "clients": USERS, "duration": "3s"}
    data.update(top)
    return scenario(balancers=[cfg], **data)


def _outputs(sc: Any, fused: bool) -> tuple[Any, ...]:
    build = build_variant(sc, "l7")
    lb = build.lb
    assert isinstance(lb, L7Balancer)
    assert lb.fast_path  # every case below may take the fused path...
    lb.fast_path = fused  # ...and runs once without it
    run = build.run()
    rec = run.recorder
    assert len(rec.requests) > 100
    return list(rec.requests), list(rec.connections), dict(rec.counters)


CASES = {
    "plain": {},
    "least_request_streamed": {"algorithm": "least_request", "response_mode": "streamed"},
    # One pooled connection per backend for 8 users: requests wait for one (pool.waiters).
    "pool_waits": {"pool": {"max": 1}},
    # A header rule (routing reads headers) and an ejection (an impaired backend set).
    "routes_and_ejection": {
        "routes": [
            {"match": {"headers": {"X-Tier": "gold"}}, "group": "web"},
            {"match": {"path_prefix": "/"}, "group": "web"},
        ],
        "outlier_detection": {"consecutive_5xx": 3, "base_ejection": "1s"},
    },
}


@pytest.mark.parametrize("fidelity", ["segment", "request"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_path_gives_the_general_codes_results(case: str, fidelity: str) -> None:
    events = (
        [{"at": "1s", "action": "errors", "backend": "web-2", "rate": 1.0}]
        if case == "routes_and_ejection"
        else []
    )
    sc = _l7(CASES[case], fidelity=fidelity, events=events)
    fused = _outputs(sc, True)
    general = _outputs(sc, False)
    assert fused[0] == general[0]  # every request record, times and backends
    assert fused[1] == general[1]  # every connection record
    assert fused[2] == general[2]  # every counter (peak buffer, CPU, ejections, ...)


@pytest.mark.parametrize(
    "extra",
    [
        {"retries": {}},
        {"cache": {"size": "1MB", "ttl": "1s"}},
        {"affinity_cookie": "SERVERID"},
        {"circuit_breakers": {"web": {"max_requests": 50}}},
        {"weights_from_reports": True},
        {"algorithm": "consistent_hash", "hash_on": "header:X-User"},
        {"auth": {"required": True}},
        {"routes": [{"match": {"path_prefix": "/"}, "group": "web", "auth": True}]},
        {"block": {"user_agents": ["curl"]}},
    ],
    ids=lambda extra: next(iter(extra)) if len(extra) == 1 else "hash_on",
)
def test_features_that_need_the_general_code_switch_the_fused_path_off(
    extra: dict[str, Any],
) -> None:
    build = build_variant(_l7(extra), "l7")
    assert isinstance(build.lb, L7Balancer)
    assert not build.lb.fast_path


def test_router_knows_a_catch_all_first_rule_and_whether_headers_are_read() -> None:
    algo: Any = object()
    catch_all = Rule("web", [], algo)
    by_header = Rule("web", [], algo, headers=[("X-A", "1")])
    by_path = Rule("web", [], algo, path_prefix="/api")
    assert Router([catch_all, by_header]).catch_all is catch_all
    assert Router([by_path, catch_all]).catch_all is None
    assert not Router([by_path, catch_all]).reads_headers
    assert Router([by_path, by_header]).reads_headers


def test_edge_policy_refuses_none_only_without_blocking_tokens_or_user_lists() -> None:
    algo: Any = object()
    open_rule = Rule("web", [], algo)
    assert EdgePolicy().refuses_none([open_rule])
    assert not EdgePolicy(auth_required=True).refuses_none([open_rule])
    assert EdgePolicy(auth_required=True).refuses_none([Rule("web", [], algo, auth=False)])
    assert not EdgePolicy().refuses_none([Rule("web", [], algo, allow=["ann"])])
    assert not EdgePolicy(blocked_agents=["curl"]).refuses_none([open_rule])
    assert not EdgePolicy(blocked_headers=[("X-Bad", "1")]).refuses_none([open_rule])
