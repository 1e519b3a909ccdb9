"""TLS through both balancers (C10, C13, C16, C20; docs/validation.md TLS timing).

One client, one request per connection, no queueing: the latency of a request on
a new connection grows by the TLS handshake's round trips -- two for TLS 1.2, one
for TLS 1.3 -- plus a fraction of a millisecond of handshake CPU. Behind L4 the
round trip is client-to-backend and the backend terminates TLS; behind L7 it is
client-to-balancer and the balancer does.
"""

from __future__ import annotations

import pytest

from lbsim.sim import build_variant, run_variant
from scenarios import FREE, scenario

LC, LB = 0.020, 0.002
RTT_L4 = 2 * (LC + LB)  # client <-> backend through the L4 balancer
RTT_C, RTT_B = 2 * LC, 2 * LB


def tls_scenario(
    version: str | None,
    *,
    resumption: bool = False,
    backends: int = 2,
    delayed_ack: bool = True,
) -> object:
    client: dict = {  # type: ignore[type-arg]
        "name": "c",
        "count": 1,
        "think_time": "100ms",
        "requests_per_connection": 1,
        "requests": [{"path": "/", "size": "300B", "response": "1000B"}],
    }
    if version is not None:
        client["tls"] = {"version": version, "resumption": resumption}
    return scenario(
        duration="1s",
        tcp={"delayed_ack": delayed_ack},
        network={
            "client_link": {"latency": f"{LC * 1000}ms", "bandwidth": "10Gbps"},
            "backend_link": {"latency": f"{LB * 1000}ms", "bandwidth": "10Gbps"},
        },
        backends=[{"group": "web", "count": backends, "workers": 1, "service_time": "4ms"}],
        clients=[client],
        balancers=[
            {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "costs": FREE,
                "pool": {"warm": 2},
                "tls": {"key": "rsa2048"},
            },
        ],
    )


def latencies(sc: object, variant: str) -> list[float]:
    run = run_variant(sc, variant)  # type: ignore[arg-type]
    assert all(r.outcome == "ok" for r in run.recorder.requests)
    return [r.latency for r in sorted(run.recorder.requests, key=lambda r: r.t_start)]


@pytest.mark.parametrize("delayed_ack", [True, False])
@pytest.mark.parametrize(("version", "round_trips"), [("1.2", 2), ("1.3", 1)])
@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_tls_adds_its_handshake_round_trips(
    version: str, round_trips: int, variant: str, delayed_ack: bool
) -> None:
    rtt = RTT_L4 if variant == "l4" else RTT_C
    plain = latencies(tls_scenario(None, delayed_ack=delayed_ack), variant)[0]
    with_tls = latencies(tls_scenario(version, delayed_ack=delayed_ack), variant)[0]
    added = with_tls - plain
    # Round trips, plus well under a millisecond of handshake and record CPU.
    assert round_trips * rtt < added < round_trips * rtt + 1e-3
    assert added == pytest.approx(round_trips * rtt, rel=0.01)


def test_l4_passes_tls_through_the_backends_hold_the_certificate() -> None:
    build = build_variant(tls_scenario("1.3"), "l4")  # type: ignore[arg-type]
    run = build.run()
    counters = run.recorder.counters
    handshakes = sum(v for k, v in counters.items() if k.endswith(".tls_handshakes"))
    assert handshakes == len(run.recorder.requests) > 3  # every connection, at a backend
    assert sum(b.tls_cpu.busy for b in build.backends) > 0
    assert build.cpu.busy == 0  # FREE costs: the balancer did no TLS work at all
    assert "lb.tls_handshakes" not in counters


def test_l7_terminates_tls_and_pays_for_it() -> None:
    build = build_variant(tls_scenario("1.3"), "l7")  # type: ignore[arg-type]
    run = build.run()
    counters = run.recorder.counters
    assert counters["lb.tls_handshakes"] == len(run.recorder.requests)
    # RSA-2048 signing dominates: ~0.29 ms of the balancer's CPU per full handshake.
    per_handshake = counters["lb.tls_handshake_cpu"] / counters["lb.tls_handshakes"]
    assert per_handshake == pytest.approx(0.26e-3 + 0.03e-3, rel=0.01)
    assert sum(b.tls_cpu.busy for b in build.backends) == 0  # plain HTTP behind it


def test_resumption_works_at_l7_but_not_across_l4_backends() -> None:
    sc = tls_scenario("1.2", resumption=True)
    l7 = latencies(sc, "l7")
    # First connection: full handshake (2 RTT); later ones resume (1 RTT).
    assert l7[0] - l7[1] == pytest.approx(RTT_C, rel=0.02)
    assert len({round(x, 6) for x in l7[1:]}) == 1
    # Behind L4 round robin over two backends each new connection lands on the
    # backend that did NOT issue the ticket: it cannot resume, every handshake is full.
    l4 = latencies(sc, "l4")
    assert len({round(x, 6) for x in l4}) == 1
    run = run_variant(sc, "l4")  # type: ignore[arg-type]
    assert sum(v for k, v in run.recorder.counters.items() if k.endswith("tls_resumed")) == 0


def test_reencryption_makes_backends_terminate_tls_too() -> None:
    sc = scenario(
        duration="1s",
        clients=[
            {
                "name": "c",
                "count": 2,
                "think_time": "50ms",
                "requests_per_connection": 5,
                "tls": "1.3",
                "requests": [{"path": "/", "response": "30KB"}],
            }
        ],
        balancers=[
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "tls": {"reencrypt": True},
                "response_mode": "streamed",
            }
        ],
    )
    build = build_variant(sc, "l7")
    run = build.run()
    assert all(r.outcome == "ok" for r in run.recorder.requests)
    assert run.recorder.counters["lb.tls_handshakes"] >= 2
    assert sum(v for k, v in run.recorder.counters.items() if k.endswith("tls_handshakes")) > 2
