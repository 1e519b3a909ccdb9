"""Cookie affinity at layer 7: per-user stickiness across connections.

Users open a new connection for every request (``requests_per_connection: 1``),
so neither a layer-4 balancer nor connection reuse can keep a user on one
backend. With ``affinity_cookie`` the balancer sets ``SERVERID=<backend>`` on a
user's first response and the user's client returns it on every later request.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from lbsim.lb.affinity import cookie_value
from lbsim.records import RequestRecord
from lbsim.scenario import ScenarioError
from lbsim.sim import run_variant
from scenarios import FREE, scenario

_N = 4


def _affinity_scenario(cookie: str | None, **extra: Any) -> Any:
    l7: dict[str, Any] = {"name": "l7", "layer": 7, "algorithm": "random", "costs": FREE}
    if cookie is not None:
        l7["affinity_cookie"] = cookie
    l7.update(extra.pop("balancer", {}))
    return scenario(
        duration="20s",
        backends=[{"group": "web", "count": _N, "workers": 4, "service_time": "exp(5ms)"}],
        clients=[
            {
                "name": "users",
                "count": 20,
                "think_time": "exp(100ms)",
                "requests": [{"path": "/", "size": "400B", "response": "2KB"}],
            }
        ],
        balancers=[l7],
        **extra,
    )


def _per_user(records: list[RequestRecord]) -> dict[str, list[RequestRecord]]:
    users: dict[str, list[RequestRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.t_start):
        if r.backend is not None:
            users[r.connection.rsplit("-c", 1)[0]].append(r)
    return users


def _stickiness(users: dict[str, list[RequestRecord]]) -> tuple[float, int]:
    pairs = same = 0
    for reqs in users.values():
        for a, b in itertools.pairwise(reqs):
            pairs += 1
            same += a.backend == b.backend
    return same / pairs, pairs


def test_cookie_gives_per_user_stickiness_across_connections() -> None:
    run = run_variant(_affinity_scenario("SERVERID"), "l7")
    users = _per_user(run.recorder.requests)
    # Every request on its own connection: stickiness comes from the cookie alone.
    assert all(len({r.connection for r in reqs}) == len(reqs) for reqs in users.values())
    sticky, pairs = _stickiness(users)
    assert pairs > 2000
    assert sticky == 1.0
    counters = run.recorder.counters
    assert counters["lb.affinity_misses"] == len(users)  # each user's first request
    assert counters["lb.affinity_hits"] == pairs
    assert counters["lb.affinity_breaks"] == 0


def test_without_cookie_stickiness_is_about_one_in_n() -> None:
    # Random placement: consecutive requests of a user agree with probability 1/N;
    # with > 2000 pairs the standard error is < 0.01, so +-0.04 is four of them.
    users = _per_user(run_variant(_affinity_scenario(None), "l7").recorder.requests)
    sticky, pairs = _stickiness(users)
    assert pairs > 2000
    assert sticky == pytest.approx(1 / _N, abs=0.04)


def test_a_crash_breaks_affinity_for_its_users_only() -> None:
    sc = _affinity_scenario(
        "SERVERID",
        events=[{"at": "10s", "action": "crash", "backend": "web-2", "mode": "reset"}],
        balancer={"health_check": {"kind": "http", "interval": "0.5s"}, "retries": {}},
    )
    run = run_variant(sc, "l7")
    users = _per_user(run.recorder.requests)
    home = {u: reqs[0].backend for u, reqs in users.items()}
    victims = {u for u, b in home.items() if b == "web-2"}
    assert victims and len(victims) < len(users)
    for user, reqs in users.items():
        backends = [r.backend for r in reqs]
        if user in victims:
            # Sticks to web-2 until the crash, then to one new backend for good.
            moved = [b for b in backends if b != "web-2"]
            assert moved and len(set(moved)) == 1
            first_move = backends.index(moved[0])
            assert set(backends[:first_move]) == {"web-2"}
            assert set(backends[first_move:]) == {moved[0]}
        else:
            assert set(backends) == {home[user]}  # never disturbed
    assert run.recorder.counters["lb.affinity_breaks"] >= len(victims)


def test_cookie_value_parsing() -> None:
    assert cookie_value("a=1; SERVERID=web-3; b=2", "SERVERID") == "web-3"
    assert cookie_value("SERVERIDX=1", "SERVERID") is None
    assert cookie_value(None, "SERVERID") is None


def test_affinity_cookie_refused_at_layer_4() -> None:
    with pytest.raises(ScenarioError, match=r"affinity_cookie.*cannot read or write HTTP"):
        scenario(
            balancers=[
                {"name": "l4", "layer": 4, "algorithm": "round_robin", "affinity_cookie": "S"}
            ]
        )
