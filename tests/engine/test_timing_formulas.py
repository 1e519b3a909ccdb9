"""docs/validation.md "TCP and TLS timing": closed-form latencies reproduced within 1%.

One client, one request at a time, no queueing (one worker, constant service),
no loss, bandwidth high enough that serialization is a small fraction of the RTT.
Every formula holds with delayed ACKs on (the default) and off: quick ACKs cover the
first segments of each connection and a waiting ACK never holds back the data that
the latency measures.
"""

from __future__ import annotations

import math

import pytest

from lbsim.sim import run_variant
from scenarios import FREE, scenario

LC, LB = 0.020, 0.002  # one-way latencies: client side, backend side
RTT = 2 * (LC + LB)  # end-to-end round trip through an L4 balancer
RTT_C, RTT_B = 2 * LC, 2 * LB
SERVICE = 0.004


def timing_scenario(
    response: str, *, warm: int = 0, per_connection: int = 1, delayed_ack: bool = True
) -> object:
    return scenario(
        duration="3s",
        tcp={"delayed_ack": delayed_ack},
        network={
            "client_link": {"latency": f"{LC * 1000}ms", "bandwidth": "10Gbps"},
            "backend_link": {"latency": f"{LB * 1000}ms", "bandwidth": "10Gbps"},
        },
        backends=[
            {"group": "web", "count": 2, "workers": 1, "service_time": f"{SERVICE * 1000}ms"}
        ],
        clients=[
            {
                "name": "c",
                "count": 1,
                "think_time": "100ms",
                "requests_per_connection": per_connection,
                "requests": [{"path": "/", "size": "300B", "response": response}],
            }
        ],
        balancers=[
            {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
            {
                "name": "l7",
                "layer": 7,
                "algorithm": "round_robin",
                "costs": FREE,
                "pool": {"warm": warm},
            },
        ],
    )


def latencies(sc: object, variant: str, *, new: bool = True) -> list[float]:
    run = run_variant(sc, variant)  # type: ignore[arg-type]
    out = [
        r.latency for r in run.recorder.requests if r.outcome == "ok" and r.new_connection == new
    ]
    assert out, "no requests of that kind"
    return out


@pytest.mark.parametrize("delayed_ack", [True, False])
def test_l4_new_connection_is_two_rtt_plus_service(delayed_ack: bool) -> None:
    for lat in latencies(timing_scenario("1000B", delayed_ack=delayed_ack), "l4"):
        assert lat == pytest.approx(2 * RTT + SERVICE, rel=0.01)


@pytest.mark.parametrize("delayed_ack", [True, False])
def test_l4_reused_connection_is_one_rtt_plus_service(delayed_ack: bool) -> None:
    sc = timing_scenario("1000B", per_connection=5, delayed_ack=delayed_ack)
    for lat in latencies(sc, "l4", new=False):
        assert lat == pytest.approx(RTT + SERVICE, rel=0.01)


@pytest.mark.parametrize("delayed_ack", [True, False])
def test_l7_warm_pool_adds_one_backend_rtt(delayed_ack: bool) -> None:
    """Warm upstream connection: client handshake + request + one balancer<->backend RTT."""
    sc = timing_scenario("1000B", warm=2, per_connection=1, delayed_ack=delayed_ack)
    for lat in latencies(sc, "l7"):
        assert lat == pytest.approx(2 * RTT_C + RTT_B + SERVICE, rel=0.01)


@pytest.mark.parametrize("delayed_ack", [True, False])
def test_l7_cold_upstream_adds_another_backend_rtt(delayed_ack: bool) -> None:
    sc = timing_scenario("1000B", warm=0, per_connection=1, delayed_ack=delayed_ack)
    lats = latencies(sc, "l7")
    # The first request to each backend connects cold; later ones reuse the pool.
    cold = 2 * RTT_C + 2 * RTT_B + SERVICE
    warm = 2 * RTT_C + RTT_B + SERVICE
    assert lats[0] == pytest.approx(cold, rel=0.01)
    assert lats[-1] == pytest.approx(warm, rel=0.01)
    assert lats[0] - lats[-1] == pytest.approx(RTT_B, rel=0.02)


@pytest.mark.parametrize("delayed_ack", [True, False])
@pytest.mark.parametrize(
    ("size", "text"), [(14_000, "14000B"), (100_000, "100KB"), (1_000_000, "1MB")]
)
def test_slow_start_round_trips(size: int, text: str, delayed_ack: bool) -> None:
    """S bytes need ceil(log2(S / (10 MSS) + 1)) round trips of slow start (MSS 1460)."""
    rounds = math.ceil(math.log2(size / (10 * 1460) + 1))
    # Handshake and request take two RTTs plus service; each extra flight one more RTT.
    expected = 2 * RTT + SERVICE + (rounds - 1) * RTT
    for lat in latencies(timing_scenario(text, delayed_ack=delayed_ack), "l4"):
        assert lat == pytest.approx(expected, rel=0.01)
