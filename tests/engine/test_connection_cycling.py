"""Connection cycling (max_connection_age): the fix for gRPC stickiness behind L4.

grpc_stickiness has three multiplexed connections of unequal load (16, 4, 4
streams) on three backends. Without cycling an L4 balancer leaves the busy
connection on one backend for the whole run, so Jain's index of per-backend
requests stays near the value for shares (2/3, 1/6, 1/6): 0.75. With a connection
age limit the connections are drained and re-placed, the busy one visits other
backends, and over many ages the index approaches 1.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from lbsim import metrics
from lbsim.scenario import ScenarioError, load_scenario
from lbsim.sim import run_variant

_BACKENDS = ("grpc-1", "grpc-2", "grpc-3")


def _jain(records: list, start: float, end: float) -> tuple[float, int]:
    counts = Counter(r.backend for r in records if start <= r.t_start < end and r.backend)
    served = sum(counts.values())
    return metrics.jain_fairness(counts.get(b, 0) for b in _BACKENDS) or 0.0, served


def _run(age: str | None, variant: str = "l4") -> list:
    overrides = ["duration=40s", "warmup=1s"]
    if age is not None:
        overrides += [
            f"clients.busy.max_connection_age={age}",
            f"clients.quiet.max_connection_age={age}",
        ]
    sc = load_scenario("grpc_stickiness", overrides)
    return run_variant(sc, variant).recorder.requests


def test_cycling_lowers_l4_imbalance_over_time() -> None:
    # ~25 000 requests per run, so each Jain index below rests on >10 000 requests;
    # the two runs draw the same workload (common random numbers).
    stuck = _run(None)
    cycled = _run("2s")
    jain_stuck, n_stuck = _jain(stuck, 1.0, 40.0)
    jain_cycled, n_cycled = _jain(cycled, 1.0, 40.0)
    assert n_stuck > 10_000 and n_cycled > 10_000
    # Without cycling: busy stays on one backend, index ~0.75 (shares 2/3, 1/6, 1/6).
    assert jain_stuck == pytest.approx(0.75, abs=0.05)
    # With cycling the busy connection moves; over ~20 ages the load evens out.
    assert jain_cycled > 0.95
    # Over time: the late half of the cycled run is better balanced than the
    # first age window (where the placement has not moved yet).
    early, _ = _jain(cycled, 1.0, 2.0)
    late, n_late = _jain(cycled, 20.0, 40.0)
    assert n_late > 5_000
    assert early < 0.85 < late


def test_cycling_drains_gracefully() -> None:
    requests = _run("2s")
    assert all(r.outcome == "ok" for r in requests)
    busy = [r for r in requests if r.client == "busy"]
    by_conn: dict[str, set[str]] = {}
    for r in busy:
        by_conn.setdefault(r.connection, set()).add(str(r.backend))
    # One connection per ~2 s age (+-10 % jitter): about 20 over 40 s.
    assert 15 <= len(by_conn) <= 25
    # L4 pins each connection: all its calls on one backend ...
    assert all(len(backends) == 1 for backends in by_conn.values())
    # ... and the busy user's calls, over its connections, reach every backend.
    assert set().union(*by_conn.values()) == set(_BACKENDS)
    # GOAWAY semantics: calls issued on an old connection still finish there after
    # the next connection carried its first call (they are not cut off or moved).
    first = {c: min(r.t_start for r in busy if r.connection == c) for c in by_conn}
    last_end = {c: max(r.t_end for r in busy if r.connection == c) for c in by_conn}
    order = sorted(by_conn, key=first.__getitem__)
    overlaps = sum(last_end[a] > first[b] for a, b in itertools.pairwise(order))
    assert overlaps >= len(order) // 2


def test_cycling_does_not_change_l7_balance() -> None:
    jain, _ = _jain(_run("2s", "l7"), 1.0, 40.0)
    assert jain > 0.99


def test_max_connection_age_refused_on_http_clients() -> None:
    with pytest.raises(ScenarioError, match="max_connection_age"):
        load_scenario("quickstart", ["clients.0.max_connection_age=5s"])
