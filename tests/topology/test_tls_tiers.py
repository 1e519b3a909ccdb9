"""TLS through tiers: where it ends, what its handshake costs in time and CPU.

One client, one request per connection, think time between them, no queueing,
every balancer cost zero but TLS's own: the first request's latency grows by the
TLS handshake's round trips (two for TLS 1.2, one for 1.3, as in the star, see
``tests/engine/test_tls.py``) over the path between the client and the tier that
**ends** TLS, plus a fraction of a millisecond of handshake CPU:

* an L4 proxy tier in front of an L7 tier splices the bytes through unopened: the
  handshake runs end to end between the client and the L7 instance, so its round
  trip is the whole client -> L7 path (the proxy's two legs);
* an L7 edge tier with the certificate ends it: the round trip is client -> edge
  only, and the tier behind receives plain HTTP;
* an L7 edge that re-encrypts (``tls.reencrypt``) is also a TLS 1.3 client of the
  tier behind: a request that opens a new upstream connection adds one more round
  trip of the edge -> sidecar path (the upstream handshake) on top.

Tolerance as in the star: the added time lies between the closed form and the
closed form plus 1 ms (the handshakes' CPU), and within 1 % of the closed form.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbsim.run.runs import build_variant
from lbsim.run.tiers import TieredBuild
from lbsim.scenario import Scenario, ScenarioError
from scenarios import FREE, scenario

ACCESS, SITE, FRONT, BETWEEN, SERVICE = 0.020, 0.001, 0.001, 0.002, 0.0005
#: Round trip client <-> front tier, and front tier <-> next tier (link latencies).
RTT_FRONT = 2 * (ACCESS + SITE + FRONT)
RTT_BETWEEN = 2 * BETWEEN
ROUND_TRIPS = {"1.2": 2, "1.3": 1}


def _l7(**extra: Any) -> dict[str, Any]:
    return {"layer": 7, "algorithm": "round_robin", "costs": FREE, "pool": {"warm": 1}, **extra}


def tls_topology(version: str | None, front: dict[str, Any], back: dict[str, Any]) -> Scenario:
    """A site, a router, a front tier, a variant tier behind it, one service."""
    client: dict[str, Any] = {
        "name": "c",
        "count": 1,
        "think_time": "100ms",
        "requests_per_connection": 1,
        "requests": [{"path": "/", "size": "300B", "response": "1000B"}],
    }
    if version is not None:
        client["tls"] = version
    ms = 1000
    return scenario(
        duration="1s",
        network={
            "client_link": {"latency": f"{ACCESS * ms}ms", "bandwidth": "10Gbps"},
            "backend_link": {"latency": "0.2ms", "bandwidth": "10Gbps"},
        },
        backends=[{"group": "web", "count": 1, "workers": 1, "service_time": "4ms"}],
        clients=[client],
        balancers=[{"name": "back", **back}],
        topology={
            "sites": [
                {"name": "s", "clients": ["c"],
                 "access": {"latency": f"{ACCESS * ms}ms", "bandwidth": "10Gbps"}},
            ],
            "routers": [{"name": "r"}],
            "tiers": [
                {"name": "front", "balancer": front},
                {"name": "back", "balancer": "variant"},
            ],
            "services": [{"name": "svc", "groups": ["web"]}],
            "links": [
                {"from": "s", "to": "r", "latency": f"{SITE * ms}ms"},
                {"from": "r", "to": "front", "latency": f"{FRONT * ms}ms"},
                {"from": "front", "to": "back", "latency": f"{BETWEEN * ms}ms"},
                {"from": "back", "to": "svc", "latency": f"{SERVICE * ms}ms"},
            ],
        },
    )  # fmt: skip


def _run(sc: Scenario) -> TieredBuild:
    build = build_variant(sc, "back")
    assert isinstance(build, TieredBuild)
    build.run()
    requests = build.recorder.requests
    assert len(requests) >= 3 and all(r.outcome == "ok" for r in requests)
    return build


def _first(build: TieredBuild) -> float:
    return min(build.recorder.requests, key=lambda r: r.t_start).latency


L4_PROXY = {"layer": 4, "mode": "proxy", "algorithm": "round_robin", "costs": FREE}
STACKS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], float]] = {
    # name: (front with TLS, back with TLS, back without, round trip of the handshake)
    "l4proxy>l7": (L4_PROXY, _l7(tls={"key": "rsa2048"}), _l7(), RTT_FRONT + RTT_BETWEEN),
    "l7edge>l7": (_l7(tls={"key": "rsa2048"}), _l7(), _l7(), RTT_FRONT),
}


@pytest.mark.parametrize(("version", "round_trips"), sorted(ROUND_TRIPS.items()))
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_tls_round_trips_run_to_the_tier_that_ends_it(
    stack: str, version: str, round_trips: int
) -> None:
    front, back_tls, back_plain, rtt = STACKS[stack]
    plain_front = {k: v for k, v in front.items() if k != "tls"}
    plain = _first(_run(tls_topology(None, plain_front, back_plain)))
    with_tls = _first(_run(tls_topology(version, front, back_tls)))
    added = with_tls - plain
    assert round_trips * rtt < added < round_trips * rtt + 1e-3
    assert added == pytest.approx(round_trips * rtt, rel=0.01)


def test_the_l7_tier_behind_an_l4_proxy_terminates_and_pays() -> None:
    build = _run(tls_topology("1.3", L4_PROXY, _l7(tls={"key": "rsa2048"})))
    counters = build.counters(build.scenario.duration)
    connections = len(build.recorder.requests)  # one request per connection
    assert counters["instance.back-1.tls_handshakes"] == connections
    per_handshake = counters["instance.back-1.tls_handshake_cpu"] / connections
    assert per_handshake == pytest.approx(0.26e-3 + 0.03e-3, rel=0.01)  # rsa2048 sign + keys
    assert "instance.front-1.tls_handshakes" not in counters  # the proxy never opens it
    # The proxy counts the requests it passed on, not the TLS flights in front of them.
    assert counters["instance.front-1.requests"] == connections
    assert sum(b.tls_cpu.busy for b in build.backends) == 0  # plain HTTP behind the L7 tier


def test_an_edge_that_reencrypts_adds_the_upstream_handshake() -> None:
    """Edge pool cold: the first request opens the edge's connection to the sidecar.
    Plain, that costs one round trip (TCP); re-encrypted, a TLS 1.3 round trip more."""
    cold = {"pool": {"warm": 0}}
    plain_edge = _l7(tls={"key": "rsa2048"}, **cold)
    reencrypt_edge = _l7(tls={"key": "rsa2048", "reencrypt": True}, **cold)
    plain = _first(_run(tls_topology("1.3", plain_edge, _l7())))
    build = _run(tls_topology("1.3", reencrypt_edge, _l7(tls={"key": "ecdsa_p256"})))
    added = _first(build) - plain
    assert RTT_BETWEEN < added < RTT_BETWEEN + 1e-3
    counters = build.counters(build.scenario.duration)
    assert counters["instance.back-1.tls_handshakes"] == 1  # the one pooled upstream
    assert counters["instance.front-1.tls_handshakes"] == len(build.recorder.requests)


@pytest.mark.parametrize(
    ("front", "back", "path"),
    [
        (L4_PROXY, _l7(), "balancers.0.layer"),
        (_l7(), _l7(tls={"key": "rsa2048"}), "topology.tiers.0.balancer"),
        (_l7(tls={"key": "rsa2048", "reencrypt": True}), _l7(), "balancers.0.layer"),
    ],
    ids=["proxy-passes-to-l7-without-cert", "edge-without-cert", "reencrypt-to-l7-without-cert"],
)
def test_an_l7_tier_that_tls_reaches_needs_the_certificate(
    front: dict[str, Any], back: dict[str, Any], path: str
) -> None:
    from lbsim.sim import check_buildable

    with pytest.raises(ScenarioError) as info:
        check_buildable(tls_topology("1.3", front, back))
    assert info.value.path == path and "certificate" in info.value.message


@pytest.mark.parametrize(
    "front",
    [
        ["topology.tiers.maglev.balancer.mode=nat", "topology.tiers.maglev.instances=1"],
        ["topology.tiers.maglev.balancer.mode=proxy"],
    ],
    ids=["nat", "proxy"],
)
def test_tls_behind_a_nat_or_proxy_tier_ends_at_the_l7_instances(front: list[str]) -> None:
    """NAT rewrites the VIP's port 443 to an instance's 8443, a proxy splices to it:
    either way the L7 instances accept there and do every handshake."""
    from lbsim.scenario import load_scenario

    cert = "{key: ecdsa_p256}"
    sc = load_scenario(
        "two_tier",
        [
            "duration=1.5s",
            "warmup=0.5s",
            *front,
            f"balancers.round_robin.tls={cert}",
            f"balancers.least_request.tls={cert}",
            "clients.east.tls=1.3",
            "clients.west.tls=1.2",
        ],
    )
    build = build_variant(sc, "round_robin")
    assert isinstance(build, TieredBuild)
    build.run()
    requests = build.recorder.requests
    assert len(requests) > 300 and all(r.outcome == "ok" for r in requests)
    counters = build.counters(sc.duration)
    connections = sum(1 for c in build.recorder.connections if c.side == "client")
    handshakes = sum(counters[f"instance.proxies-{j}.tls_handshakes"] for j in (1, 2, 3))
    assert handshakes == connections
    assert sum(b.tls_cpu.busy for b in build.backends) == 0
