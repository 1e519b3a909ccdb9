"""Fault tolerance (issue 5, concept C2): crashes, health checks, retries, loss, accounting."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbsim.records import OUTCOMES
from lbsim.scenario import load_scenario
from lbsim.sim import build_variant, run_variant
from scenarios import scenario

INTERVAL, FALL, RISE = 1.0, 3, 2


def crash_scenario(mode: str = "reset", **client: object) -> object:
    browsers = {
        "name": "c",
        "count": 20,
        "requests_per_connection": 5,
        "think_time": "exp(100ms)",
        "timeout": "3s",
        "requests": [{"path": "/", "response": "5KB"}],
    }
    browsers.update(client)
    check = {"interval": f"{INTERVAL}s", "timeout": "0.5s", "fall": FALL, "rise": RISE}
    return scenario(
        duration="20s",
        warmup="1s",
        backends=[{"group": "web", "count": 4, "workers": 8, "service_time": "exp(5ms)"}],
        clients=[browsers],
        events=[
            {"at": "5.3s", "action": "crash", "backend": "web-2", "mode": mode},
            {"at": "14.3s", "action": "recover", "backend": "web-2"},
        ],
        balancers=[
            {"name": "l4", "layer": 4, "algorithm": "round_robin", "health_check": check},
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "health_check": {**check, "kind": "http"},
                "retries": {"attempts": 2, "per_try_timeout": "0.5s"},
            },
        ],
    )


@pytest.mark.parametrize("variant", ["l4", "l7"])
@pytest.mark.parametrize("mode", ["reset", "silent"])
def test_detection_time_is_fall_checks_times_interval(variant: str, mode: str) -> None:
    build = build_variant(crash_scenario(mode), variant)  # type: ignore[arg-type]
    build.run()
    assert build.health is not None
    down = [t for t, name, healthy in build.health.transitions if name == "web-2" and not healthy]
    up = [t for t, name, healthy in build.health.transitions if name == "web-2" and healthy]
    assert len(down) == 1 and len(up) == 1
    detection = down[0] - 5.3
    # fall failed checks: the first check after the crash can come any time within
    # one interval, so detection takes between (fall - 1) and fall intervals (plus
    # the probe timeout for silent crashes, where probes time out rather than fail).
    assert (FALL - 1) * INTERVAL <= detection <= FALL * INTERVAL + 0.5
    assert up[0] - 14.3 <= RISE * INTERVAL + 0.5  # back after rise passes


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_no_new_work_for_the_crashed_backend_after_detection(variant: str) -> None:
    build = build_variant(crash_scenario(), variant)  # type: ignore[arg-type]
    run = build.run()
    assert build.health is not None
    down = next(t for t, n, h in build.health.transitions if n == "web-2" and not h)
    up = next(t for t, n, h in build.health.transitions if n == "web-2" and h)
    served_meanwhile = [
        r for r in run.recorder.requests if r.backend == "web-2" and down + 0.1 < r.t_start < up
    ]
    assert served_meanwhile == []
    if variant == "l4":
        lb = build.lb
        placed = [k for k, v in lb.placements.items() if v == "web-2"]  # type: ignore[union-attr]
        assert placed  # it had connections before...
    # ...and traffic returns to it once it is healthy again.
    assert any(r.backend == "web-2" and r.t_start > up + 0.5 for r in run.recorder.requests)


def test_l7_retries_turn_a_crash_into_latency_for_gets() -> None:
    sc = crash_scenario()
    l7 = run_variant(sc, "l7").recorder  # type: ignore[arg-type]
    l4 = run_variant(sc, "l4").recorder  # type: ignore[arg-type]
    assert Counter(r.outcome for r in l7.requests) == Counter(ok=len(l7.requests))
    assert l7.counters["lb.retries"] > 0
    retried = [r for r in l7.requests if (r.upstream_tries or 0) > 1]
    assert retried and all(r.outcome == "ok" for r in retried)
    # L4 cannot retry: requests on connections pinned to web-2 failed.
    failed_l4 = [r for r in l4.requests if r.outcome != "ok"]
    assert failed_l4
    assert all(r.t_start >= 5.0 for r in failed_l4)


def test_post_is_not_retried_unless_configured() -> None:
    sc = crash_scenario(requests=[{"method": "POST", "path": "/order", "response": "1KB"}])
    l7 = run_variant(sc, "l7").recorder  # type: ignore[arg-type]
    assert any(r.outcome != "ok" for r in l7.requests)
    assert all((r.upstream_tries or 1) == 1 for r in l7.requests)


def test_silent_crash_makes_l4_clients_time_out() -> None:
    l4 = run_variant(crash_scenario("silent"), "l4").recorder  # type: ignore[arg-type]
    timeouts = [r for r in l4.requests if r.outcome == "timeout"]
    assert timeouts and all(r.reason == "client timeout" for r in timeouts)


def test_client_retries_hide_l4_failures_in_one_record() -> None:
    sc = crash_scenario(retries=2)
    l4 = run_variant(sc, "l4").recorder  # type: ignore[arg-type]
    assert all(r.outcome == "ok" for r in l4.requests)
    retried = [r for r in l4.requests if r.attempts > 1]
    assert retried  # the failures were retried on fresh connections...
    ids = [r.request_id for r in l4.requests]
    assert len(ids) == len(set(ids))  # ...and each request still has exactly one row


def test_outlier_detection_ejects_an_erroring_backend() -> None:
    sc = scenario(
        duration="10s",
        backends=[{"group": "web", "count": 4, "workers": 8, "service_time": "exp(5ms)"}],
        clients=[
            {
                "name": "c",
                "count": 10,
                "requests_per_connection": 20,
                "think_time": "exp(50ms)",
                "requests": [{"path": "/", "response": "2KB"}],
            }
        ],
        events=[{"at": "2s", "action": "errors", "backend": "web-3", "rate": 1.0}],
        balancers=[
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "outlier_detection": {
                    "consecutive_5xx": 5,
                    "base_ejection": "30s",
                    "max_ejection_percent": 50,
                },
            }
        ],
    )
    run = run_variant(sc, "l7")
    assert run.recorder.counters["lb.ejections"] == 1
    to_web3 = [r.t_start for r in run.recorder.requests if r.backend == "web-3" and r.t_start > 2]
    errors = [r for r in run.recorder.requests if r.status == 500]
    assert len(errors) == 5  # exactly the five that tripped the detector
    assert max(to_web3) < 3.0  # then no more requests to it


def test_added_backend_gets_nothing_from_existing_l4_connections() -> None:
    sc = load_scenario("scale_out", ["duration=40s"])
    l4 = run_variant(sc, "l4").recorder
    l7 = run_variant(sc, "l7").recorder
    services_l4 = Counter(r.backend for r in l4.requests if r.client == "services")
    assert services_l4["api-5"] == 0  # long-lived connections never move
    new_l4 = Counter(r.backend for r in l4.requests if r.client == "newcomers" and r.t_start > 20)
    assert new_l4["api-5"] > 0  # new connections do reach it
    late_l7 = Counter(r.backend for r in l7.requests if r.t_start > 21)
    share = late_l7["api-5"] / sum(late_l7.values())
    assert share == pytest.approx(0.2, abs=0.05)  # L7: its share of requests at once


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_lossy_links_lose_segments_but_tcp_delivers_every_byte(variant: str) -> None:
    sc = load_scenario("lossy_link", ["duration=10s", "warmup=1s"])
    run = run_variant(sc, variant)
    counters = run.recorder.counters
    assert counters["links.lost"] > 100
    assert counters["tcp.retransmissions"] > 50
    assert counters["tcp.bytes_sent"] == counters["tcp.bytes_received"]
    assert all(r.outcome == "ok" for r in run.recorder.requests)


def test_balancer_restart_loses_the_l4_table() -> None:
    sc = scenario(
        duration="6s",
        clients=[
            {
                "name": "c",
                "count": 5,
                "requests_per_connection": 1000,
                "think_time": "exp(50ms)",
                "timeout": "1s",
                "requests": [{"path": "/", "response": "1KB"}],
            }
        ],
        events=[{"at": "2s", "action": "restart_balancer"}],
        balancers=[{"name": "l4", "layer": 4, "algorithm": "round_robin"}],
    )
    build = build_variant(sc, "l4")
    run = build.run()
    assert build.lb.stray > 0  # segments of connections the table forgot
    failed = [r for r in run.recorder.requests if r.outcome != "ok"]
    assert failed and all(r.t_start >= 1.0 for r in failed)
    # The clients reconnect and carry on after giving up on the stalled connections.
    assert any(r.outcome == "ok" and r.t_start > 4 for r in run.recorder.requests)


EVENT = st.one_of(
    st.tuples(st.just("crash"), st.sampled_from(["reset", "silent"])),
    st.tuples(st.just("recover"), st.none()),
    st.tuples(st.just("errors"), st.floats(0, 1)),
    st.tuples(st.just("slowdown"), st.floats(0.5, 5)),
    st.tuples(st.just("loss"), st.floats(0, 0.2)),
    st.tuples(st.just("restart_balancer"), st.none()),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.tuples(st.floats(0.1, 2.9), EVENT), max_size=5),
    variant=st.sampled_from(["l4", "l7"]),
)
def test_every_request_has_exactly_one_outcome_whatever_fails(
    events: list[tuple[float, tuple[str, object]]], variant: str
) -> None:
    """Property: issued requests = sum of outcomes; one row per request."""
    scripted = []
    for at, (action, value) in events:
        event: dict[str, object] = {"at": f"{at}s", "action": action}
        if action in ("crash", "recover", "errors", "slowdown"):
            event["backend"] = "web-1"
        if action == "crash":
            event["mode"] = value
        elif action == "errors":
            event["rate"] = value
        elif action == "slowdown":
            event["factor"] = value
        elif action == "loss":
            event.update(link="all", rate=value)
        scripted.append(event)
    sc = scenario(
        duration="3s",
        drain="3s",
        backends=[{"group": "web", "count": 2, "workers": 4, "service_time": "exp(5ms)"}],
        clients=[
            {
                "name": "c",
                "count": 6,
                "requests_per_connection": 4,
                "think_time": "exp(30ms)",
                "timeout": "1s",
                "requests": [{"path": "/", "response": "4KB"}],
            },
            {
                "name": "m",
                "rate": "20/s",
                "protocol": "multiplexed",
                "connections": 2,
                "requests_per_connection": 1000,
                "requests": [{"path": "/m", "response": "1KB"}],
            },
        ],
        events=scripted,
        balancers=[
            {
                "name": "l4",
                "layer": 4,
                "algorithm": "round_robin",
                "health_check": {"interval": "0.3s", "timeout": "0.2s"},
            },
            {"name": "l7", "layer": 7, "algorithm": "round_robin", "retries": {}},
        ],
    )
    build = build_variant(sc, variant)  # type: ignore[arg-type]
    run = build.run()
    rows = run.recorder.requests
    ids = [r.request_id for r in rows]
    assert len(ids) == len(set(ids))
    assert {r.outcome for r in rows} <= set(OUTCOMES)
    issued = sum(len(runner.in_flight) for runner in build.clients)  # must be none left
    assert issued == 0
    # Every request a user or session drew was recorded: sequence numbers are gap-free.
    per_actor: dict[str, list[int]] = {}
    for r in rows:
        actor, _, seq = r.request_id.rpartition("-")
        if r.client == "c":
            per_actor.setdefault(actor, []).append(int(seq))
    for seqs in per_actor.values():
        assert sorted(seqs) == list(range(len(seqs)))
    mux = sorted(int(r.request_id.rsplit("-r", 1)[1]) for r in rows if r.client == "m")
    assert mux == list(range(len(mux)))


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_open_loop_multiplexed_clients_retry_and_record_every_request(variant: str) -> None:
    """Poisson gRPC-style requests over 4 connections, one backend crashed mid-run.

    The client retries a failed request (``retries: 2``) on its connection, renewed
    if the crash reset it. Every request issued is recorded exactly once -- none
    is lost between a failed attempt and its retry -- and some needed a retry.
    """
    grpc = {
        "name": "g",
        "protocol": "multiplexed",
        "rate": "400/s",
        "connections": 4,
        "retries": 2,
        "timeout": "2s",
        "requests": [{"path": "/rpc", "size": "300B", "response": "2KB"}],
    }
    sc = scenario(
        duration="6s",
        warmup="0s",
        backends=[{"group": "web", "count": 2, "workers": 8, "service_time": "exp(5ms)"}],
        clients=[grpc],
        events=[{"at": "2.5s", "action": "crash", "backend": "web-2", "mode": "reset"}],
    )
    records = run_variant(sc, variant).recorder.requests
    ids = sorted(int(r.request_id.rsplit("-r", 1)[1]) for r in records)
    assert len(ids) > 2000
    assert ids == list(range(len(ids)))  # every request issued, once
    assert any(r.attempts > 1 for r in records)
