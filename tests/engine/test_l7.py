"""Layer-7 balancing in depth: concepts C15-C20 on simulated data (issue 4)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from lbsim.scenario import load_scenario
from lbsim.sim import build_variant, run_variant
from scenarios import FREE, NEGLIGIBLE_NETWORK, scenario


def l7_scenario(
    *, balancer: dict | None = None, clients: list | None = None, **top: object
) -> object:  # type: ignore[type-arg]
    cfg = {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE}
    cfg.update(balancer or {})
    data: dict = {"balancers": [cfg]}  # type: ignore[type-arg]
    if clients is not None:
        data["clients"] = clients
    data.update(top)
    return scenario(**data)


def one_client(**client: object) -> list:  # type: ignore[type-arg]
    base = {
        "name": "c",
        "count": 1,
        "requests_per_connection": 100,
        "think_time": "10ms",
        "requests": [{"path": "/", "size": "400B", "response": "2KB"}],
    }
    base.update(client)
    return [base]


# ----------------------------------------------------------------------- C16


def test_backend_sees_first_byte_only_after_the_balancer_has_the_last() -> None:
    sc = l7_scenario(
        clients=one_client(
            requests=[{"method": "POST", "path": "/u", "size": "200KB", "response": "1KB"}]
        ),
        duration="2s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    reqs = [r for r in run.recorder.requests if r.outcome == "ok"]
    assert len(reqs) > 5
    for r in reqs:
        assert r.t_lb_last_byte is not None and r.t_backend_first_byte is not None
        assert r.t_backend_first_byte > r.t_lb_last_byte
    # The whole request was held in the balancer's memory on the way.
    assert run.recorder.counters["lb.peak_buffer_bytes"] >= 200_000


# ----------------------------------------------------------------------- C17


def test_consecutive_requests_on_one_connection_alternate_under_round_robin() -> None:
    sc = l7_scenario(
        clients=one_client(),
        backends=[{"group": "web", "count": 2, "workers": 1, "service_time": "1ms"}],
        duration="1s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    reqs = sorted(run.recorder.requests, key=lambda r: r.t_start)
    assert len({r.connection for r in reqs}) == 1
    backends = [r.backend for r in reqs]
    assert all(a != b for a, b in itertools.pairwise(backends))


def test_multiplexed_calls_are_split_per_request() -> None:
    sc = load_scenario("grpc_stickiness", ["duration=5s", "warmup=1s"])
    l4 = run_variant(sc, "l4").recorder.requests
    l7 = run_variant(sc, "l7").recorder.requests
    busy_l4 = {r.backend for r in l4 if r.client == "busy"}
    busy_l7 = {r.backend for r in l7 if r.client == "busy"}
    assert len(busy_l4) == 1  # one connection, one backend
    assert busy_l7 == {"grpc-1", "grpc-2", "grpc-3"}


# ----------------------------------------------------------------------- C18


def test_each_routing_rule_reaches_its_group() -> None:
    sc = load_scenario("routing", ["duration=6s", "warmup=1s"])
    run = run_variant(sc, "l7")
    seen: dict[tuple[str, str], set[str]] = {}
    for r in run.recorder.requests:
        assert r.outcome == "ok"
        key = (r.method, "/pictures/" if r.path.startswith("/pictures/") else r.path)
        seen.setdefault(key, set()).add(str(r.backend).rsplit("-", 1)[0])
    assert seen[("GET", "/pictures/")] == {"pictures"}
    assert seen[("GET", "/comments")] == {"read"}
    assert seen[("POST", "/comments")] == {"write"}
    assert seen[("GET", "/index.html")] == {"web"}
    # The L4 balancer cannot route: the same requests land on every group.
    l4 = run_variant(sc, "l4")
    pictures_l4 = {
        str(r.backend).rsplit("-", 1)[0] for r in l4.recorder.requests if "/pictures/" in r.path
    }
    assert len(pictures_l4) == 4


def test_no_matching_route_is_404() -> None:
    sc = l7_scenario(
        clients=one_client(requests=[{"path": "/missing", "response": "1KB"}]),
        balancer={"routes": [{"match": {"path_prefix": "/api/"}, "group": "web"}]},
        duration="1s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    assert {(r.status, r.outcome, r.backend) for r in run.recorder.requests} == {
        (404, "error", None)
    }


# ----------------------------------------------------------------------- C19


def test_refused_and_cached_requests_never_reach_a_backend() -> None:
    sc = load_scenario("cache_auth", ["duration=8s", "warmup=1s"])
    build = build_variant(sc, "l7")
    run = build.run()
    by: dict[str, Counter[tuple[int | None, str]]] = {}
    for r in run.recorder.requests:
        by.setdefault(r.client, Counter())[(r.status, r.outcome)] += 1
    assert set(by["intruders"]) == {(401, "blocked")}
    assert set(by["scraper"]) == {(403, "blocked")}
    assert by["anonymous"][(401, "blocked")] > 0 and by["anonymous"][(200, "ok")] > 0
    assert by["members"][(403, "blocked")] > 0  # /admin is for admins only
    assert set(by["admins"]) == {(200, "ok")}
    refused_or_cached = [
        r for r in run.recorder.requests if r.outcome == "blocked" or r.cache_hit is True
    ]
    assert refused_or_cached and all(r.backend is None for r in refused_or_cached)
    hits = sum(r.cache_hit is True for r in run.recorder.requests)
    assert hits > 100
    # A shared cache never answers an authenticated request for a personal page
    # (RFC 9111 section 3.5): hits are public catalogue pages (asked for with a
    # token) or /health (asked for without one).
    hit_paths = {r.path.split("/")[1] for r in run.recorder.requests if r.cache_hit is True}
    assert hit_paths == {"catalog", "health"}
    account = [r for r in run.recorder.requests if r.path == "/account" and r.outcome == "ok"]
    assert account and all(r.backend is not None for r in account)
    # The backends served exactly the requests that were neither refused nor cached.
    served = sum(b.served for b in build.backends)
    assert served == sum(r.backend is not None for r in run.recorder.requests)
    # The L4 balancer lets everything through to the backends.
    l4 = run_variant(sc, "l4")
    assert all(r.outcome == "ok" and r.backend for r in l4.recorder.requests)


def test_cache_expires_after_its_ttl() -> None:
    sc = l7_scenario(
        # No Authorization header: a shared cache may answer only unauthenticated
        # requests (or those on a public route).
        clients=one_client(think_time="100ms", token="none"),
        balancer={"cache": {"size": "1MB", "ttl": "1s"}},
        duration="5s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    misses = [r.t_start for r in run.recorder.requests if r.cache_hit is False]
    # One path: a miss every ~ttl (plus a think time), hits in between.
    assert 4 <= len(misses) <= 6
    assert sum(r.cache_hit is True for r in run.recorder.requests) > 30


def test_session_affinity_by_header() -> None:
    sc = l7_scenario(
        clients=one_client(
            count=8, headers={"X-User": "{user}"}, think_time="exp(20ms)", requests_per_connection=5
        ),
        balancer={"algorithm": "consistent_hash", "hash_on": "header:X-User"},
        backends=[{"group": "web", "count": 4, "workers": 2, "service_time": "1ms"}],
        duration="3s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    per_user: dict[str, set[str]] = {}
    for r in run.recorder.requests:
        user = r.request_id.rsplit("-", 1)[0]
        per_user.setdefault(user, set()).add(str(r.backend))
    assert len(per_user) == 8
    assert all(len(b) == 1 for b in per_user.values())  # every user sticks to one backend
    assert len(set().union(*per_user.values())) > 1  # ...and users spread


# ------------------------------------------------------------------ limits


def test_max_request_answers_413_before_the_request_is_complete() -> None:
    sc = l7_scenario(
        clients=one_client(
            requests=[{"method": "POST", "path": "/u", "size": "500KB", "response": "1KB"}]
        ),
        balancer={"limits": {"max_request": "100KB"}},
        duration="1s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    first = sorted(run.recorder.requests, key=lambda r: r.t_start)[0]
    assert (first.status, first.outcome, first.backend) == (413, "error", None)
    # Refused after ~100 KB arrived, long before 500 KB could have.
    assert first.latency < 0.2


def test_max_buffer_answers_503() -> None:
    sc = l7_scenario(
        clients=one_client(
            count=6, requests=[{"method": "POST", "path": "/u", "size": "300KB", "response": "1KB"}]
        ),
        balancer={"limits": {"max_buffer": "500KB"}},
        backends=[{"group": "web", "count": 1, "workers": 1, "service_time": "200ms"}],
        duration="2s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    statuses = Counter(r.status for r in run.recorder.requests)
    assert statuses[503] > 0 and statuses[200] > 0
    assert run.recorder.counters["lb.peak_buffer_bytes"] <= 500_000


def test_request_timeout_answers_408_to_slow_senders() -> None:
    sc = l7_scenario(
        clients=one_client(
            link={"latency": "20ms", "bandwidth": "64Kbps"},
            requests=[{"method": "POST", "path": "/u", "size": "100KB", "response": "1KB"}],
        ),
        balancer={"limits": {"request_timeout": "2s"}},
        duration="1s",
    )
    run = run_variant(sc, "l7")  # type: ignore[arg-type]
    first = sorted(run.recorder.requests, key=lambda r: r.t_start)[0]
    assert (first.status, first.outcome, first.backend) == (408, "timeout", None)
    # 100 KB at 64 kbit/s takes 12.5 s; the balancer gave up after ~2 s.
    assert 2.0 < first.latency < 2.5


def test_slow_clients_tie_up_blocking_backends_behind_l4_but_not_l7() -> None:
    sc = load_scenario("slow_clients", ["duration=15s", "warmup=3s"])
    p95 = {}
    for variant in ("l4", "l7"):
        lat = sorted(
            r.latency
            for r in run_variant(sc, variant).recorder.requests
            if r.client == "broadband" and r.t_start >= sc.warmup
        )
        p95[variant] = lat[int(0.95 * len(lat))]
    assert p95["l7"] < 0.1
    assert p95["l4"] > 3 * p95["l7"]


# -------------------------------------------------------------- responses


def test_streamed_responses_reach_the_client_sooner_than_buffered() -> None:
    def latency(mode: str) -> float:
        sc = l7_scenario(
            clients=one_client(requests=[{"path": "/big", "response": "2MB"}], think_time="1s"),
            balancer={"response_mode": mode, "pool": {"warm": 1}},
            network={
                "client_link": {"latency": "5ms", "bandwidth": "1Gbps"},
                "backend_link": {"latency": "5ms", "bandwidth": "1Gbps"},
            },
            duration="2s",
        )
        run = run_variant(sc, "l7")  # type: ignore[arg-type]
        return min(r.latency for r in run.recorder.requests)

    buffered, streamed = latency("buffered"), latency("streamed")
    # Buffered: the response crosses the backend link, then the client link; streamed
    # overlaps the two, saving roughly one transfer of 2 MB at 1 Gbit/s (~17 ms) and more.
    assert buffered - streamed > 0.015


# ----------------------------------------------------------------- pools


def test_pool_max_bounds_connections_and_makes_requests_wait() -> None:
    sc = l7_scenario(
        clients=one_client(count=10, think_time="exp(5ms)"),
        balancer={"pool": {"max": 2}},
        backends=[{"group": "web", "count": 1, "workers": 8, "service_time": "20ms"}],
        duration="2s",
    )
    build = build_variant(sc, "l7")  # type: ignore[arg-type]
    run = build.run()
    upstream = [c for c in run.recorder.connections if c.side == "backend"]
    assert len(upstream) == 2  # never more than max, reused for every request
    waits = [r.latency for r in run.recorder.requests]
    # Two connections carry one request each at a time: 10 users queue for them.
    assert sum(waits) / len(waits) > 0.05


# ------------------------------------------------------------------- C20


def test_l7_throughput_ceiling_is_cores_over_per_request_cost() -> None:
    """Saturate the balancer's CPU: it completes cores / cost requests per second."""
    cores, per_request = 2, 0.002  # 1000 requests/s at most
    sc = scenario(
        duration="6s",
        warmup="2s",
        network=NEGLIGIBLE_NETWORK,
        backends=[{"group": "web", "count": 4, "workers": 64, "service_time": "1ms"}],
        clients=[
            {
                "name": "flood",
                "count": 200,
                "requests_per_connection": 1000,
                "requests": [{"path": "/", "size": "200B", "response": "500B"}],
            }
        ],
        balancers=[
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "cores": cores,
                "costs": {**FREE, "per_request": f"{per_request * 1000}ms"},
            }
        ],
    )
    run = run_variant(sc, "l7")
    window = [r for r in run.recorder.requests if sc.warmup <= r.t_end < sc.duration]
    throughput = len(window) / (sc.duration - sc.warmup)
    assert throughput == pytest.approx(cores / per_request, rel=0.05)
    assert run.recorder.counters["lb.cpu_utilization"] > 0.95


def test_latency_feedback_goes_to_the_route_that_chose_the_backend() -> None:
    """Two routes over one group, each with its own peak-EWMA: the one used learns.

    Every request takes the second route (``/b``), so only its algorithm chose
    backends; the response latencies (5 ms of service plus a 2 ms backend round
    trip and the transfer) must feed that algorithm, and the first route's must
    still hold its default.
    """
    sc = l7_scenario(
        balancer={
            "algorithm": "peak_ewma",
            "routes": [
                {"match": {"path_prefix": "/a"}, "group": "web"},
                {"match": {"path_prefix": "/b"}, "group": "web"},
            ],
        },
        clients=one_client(requests=[{"path": "/b", "size": "400B", "response": "2KB"}]),
        backends=[{"group": "web", "count": 2, "workers": 4, "service_time": "5ms"}],
        duration="2s",
    )
    build = build_variant(sc, "l7")  # type: ignore[arg-type]
    run = build.run()
    assert sum(r.outcome == "ok" for r in run.recorder.requests) > 50
    first, second = (rule.algorithm for rule in build.lb.router.rules)  # type: ignore[attr-defined]
    used = [b for b in build.lb.backends if run.recorder.counters[f"backend.{b.name}.served"]]
    assert used
    for backend in used:
        learned = second.latency_estimate(backend, run.end_time)
        assert 0.006 <= learned <= 0.010  # about 5 ms service + 2 ms round trip
    for backend in build.lb.backends:
        assert first.latency_estimate(backend, run.end_time) == first.default_latency
