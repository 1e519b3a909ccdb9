"""Balancers record their decisions as data: health, skips, retries, picks.

A backend crashes at 1 s and recovers at 3 s (``backend_crash``, shortened):
health checks mark it down and up again, the L7 proxy skips it while it is down,
and every request it forwards has one pick record naming the backend it went to.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lbsim.scenario import load_scenario
from lbsim.sim import run_variant
from lbsim.teach.sentences import sentence

SETS = [
    "duration=6s",
    "warmup=0s",
    "events.0.at=1s",
    "events.1.at=3s",
    "balancers.0.health_check.interval=200ms",
    "balancers.1.health_check.interval=200ms",
]


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_health_transitions_are_recorded_by_the_balancer(variant: str) -> None:
    run = run_variant(load_scenario("backend_crash", SETS), variant)
    health = [d for d in run.recorder.decisions if dict(d.values).get("by") == "health_check"]
    assert [(d.reason, d.backend) for d in health] == [
        ("backend_down", "web-2"),
        ("backend_up", "web-2"),
    ]
    assert all(d.device == variant for d in health)
    assert 1.0 < health[0].time < 3.0 < health[1].time
    assert "health checks: web-2 failed" in sentence(health[0])


def test_l7_records_one_pick_per_try_and_skips_the_down_backend() -> None:
    run = run_variant(load_scenario("backend_crash", SETS), "l7", trace_segments=True)
    decisions = run.recorder.decisions
    reasons = Counter(d.reason for d in decisions)
    picks = [d for d in decisions if d.reason in ("l7_pick", "rule_match", "retry")]
    served = [r for r in run.recorder.requests if r.backend is not None]
    # Every served request was picked for the backend that served it (its last try).
    last_pick = {d.request: d.backend for d in picks}
    assert all(last_pick[r.request_id] == r.backend for r in served)
    assert sum(1 for d in picks if d.reason != "retry") == len({d.request for d in picks})
    down = [d for d in decisions if d.reason == "backend_down" and "state" in dict(d.values)]
    assert down and {d.backend for d in down} == {"web-2"}
    up = next(d.time for d in decisions if d.reason == "backend_up")
    states = Counter(dict(d.values)["state"] for d in down)
    assert states["down"] > 0
    # Marked down: skipped until the checks mark it up; ejected (outlier
    # detection): skipped until its ejection time is over, which may be later.
    assert all(d.time < up for d in down if dict(d.values)["state"] == "down")
    assert reasons["retry"] >= 1  # requests that failed on web-2 as it crashed
    values = dict(picks[0].values)
    assert {"in_flight", "others", "upstream", "algorithm", "tries"} <= set(values)


def test_per_request_decisions_only_with_the_trace() -> None:
    """One record per request would grow without bound in a long plain run."""
    run = run_variant(load_scenario("backend_crash", SETS), "l7")
    assert run.recorder.requests
    assert {d.reason for d in run.recorder.decisions} <= {"backend_down", "backend_up", "ejected"}
    assert all(d.request is None for d in run.recorder.decisions)
