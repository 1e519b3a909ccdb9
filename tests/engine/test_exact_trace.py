"""Exact segment traces of one request through L4 NAT and through the L7 proxy.

The scenario is tiny and deterministic (constant service time, one client, one
backend, no CPU cost), so every segment on every link can be listed with its time.
Times are checked against hop arithmetic: each hop adds the frame's serialization
at 1 Gbit/s plus the link latency (10 ms client side, 1 ms backend side).
Sequence numbers are shown relative to each side's initial sequence number.
"""

from __future__ import annotations

import pytest

from lbsim.net.addresses import ip_from_str
from lbsim.net.link import wire_bytes
from lbsim.records import SegmentRecord
from lbsim.sim import run_variant
from lbsim.streams import mix_ints, stream_seed
from scenarios import FREE, scenario

GBPS = 1e9
LC, LB = 0.010, 0.001  # client-side and backend-side latency


def ser(ip_len: int) -> float:
    """Serialization time of an IPv4 packet at 1 Gbit/s."""
    return wire_bytes(ip_len) * 8 / GBPS


SYN, PURE, REQ, RESP = ser(48), ser(40), ser(440), ser(1040)

TINY = scenario(
    duration="1ms",
    network={
        "client_link": {"latency": "10ms", "bandwidth": "1Gbps"},
        "backend_link": {"latency": "1ms", "bandwidth": "1Gbps"},
    },
    backends=[{"group": "web", "count": 1, "workers": 1, "service_time": "5ms"}],
    clients=[
        {"name": "c", "count": 1, "requests": [{"path": "/", "size": "400B", "response": "1000B"}]}
    ],
    balancers=[
        {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
        {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE},
    ],
)

CLIENT = "100.64.0.1:32768"
VIP = "203.0.113.10:80"
BACKEND = "10.0.1.1:8080"
# The proxy's own first source port: its rotation starts at a keyed offset of
# 32768-60999 (RFC 6056, 3.3.3), not at the bottom where the client's starts.
_FIRST = 32768 + mix_ints(stream_seed(TINY.seed, "ports", "l7"), ip_from_str("10.0.0.1")) % 28232
LB_INSIDE = f"10.0.0.1:{_FIRST}"


def trace(variant: str) -> list[tuple[str, str, str, str, int]]:
    run = run_variant(TINY, variant, trace_segments=True)
    return [
        (s.link, f"{s.src}:{s.sport}", f"{s.dst}:{s.dport}", s.flags, s.payload)
        for s in run.recorder.segments
    ]


def times(variant: str) -> list[float]:
    return [s.time for s in run_variant(TINY, variant, trace_segments=True).recorder.segments]


def test_l4_nat_trace_rewrites_addresses_and_passes_every_segment() -> None:
    c2l, l2c, l2b, b2l = "c-h0>l4", "l4>c-h0", "l4>web-1", "web-1>l4"
    assert trace("l4") == [
        (c2l, CLIENT, VIP, "SYN", 0),
        (l2b, CLIENT, BACKEND, "SYN", 0),  # destination rewritten VIP -> backend
        (b2l, BACKEND, CLIENT, "SYN,ACK", 0),
        (l2c, VIP, CLIENT, "SYN,ACK", 0),  # source rewritten backend -> VIP
        (c2l, CLIENT, VIP, "ACK", 0),
        (c2l, CLIENT, VIP, "PSH,ACK", 400),  # the request
        (l2b, CLIENT, BACKEND, "ACK", 0),
        (l2b, CLIENT, BACKEND, "PSH,ACK", 400),
        (b2l, BACKEND, CLIENT, "ACK", 0),
        (l2c, VIP, CLIENT, "ACK", 0),
        (b2l, BACKEND, CLIENT, "PSH,ACK", 1000),  # the response, after 5 ms of service
        (l2c, VIP, CLIENT, "PSH,ACK", 1000),
        (c2l, CLIENT, VIP, "ACK", 0),
        (c2l, CLIENT, VIP, "FIN,ACK", 0),  # one request per connection: close
        (l2b, CLIENT, BACKEND, "ACK", 0),
        (l2b, CLIENT, BACKEND, "FIN,ACK", 0),
        (b2l, BACKEND, CLIENT, "FIN,ACK", 0),
        (l2c, VIP, CLIENT, "FIN,ACK", 0),
        (c2l, CLIENT, VIP, "ACK", 0),
        (l2b, CLIENT, BACKEND, "ACK", 0),
    ]


def test_l4_nat_trace_times() -> None:
    t = times("l4")
    hop_c, hop_b = LC, LB  # the balancer forwards on arrival (no CPU cost here)
    expected = [0.0]
    expected.append(expected[0] + SYN + hop_c)  # SYN reaches the balancer, forwarded
    expected.append(expected[1] + SYN + hop_b)  # backend answers on arrival
    expected.append(expected[2] + SYN + hop_b)
    ack = expected[3] + SYN + hop_c  # client: handshake ACK, then the request
    expected += [ack, ack + PURE]
    expected += [ack + PURE + hop_c, ack + PURE + REQ + hop_c]
    at_backend = expected[7] + REQ + hop_b
    expected += [at_backend, at_backend + PURE + hop_b]
    response = at_backend + 0.005
    expected += [response, response + RESP + hop_b]
    assert t[:12] == pytest.approx(expected, abs=1e-12)
    # Latency: two round trips plus service time plus serialization (docs/validation.md).
    rtt = 2 * (LC + LB)
    run = run_variant(TINY, "l4")
    (req,) = run.recorder.requests
    serialization = 2 * (SYN + SYN) + PURE + REQ + REQ + 2 * RESP
    assert req.latency == pytest.approx(2 * rtt + 0.005 + serialization, abs=1e-12)


def test_l7_trace_has_two_connections_and_buffers_the_request() -> None:
    c2l, l2c, l2b, b2l = "c-h0>l7", "l7>c-h0", "l7>web-1", "web-1>l7"
    assert trace("l7") == [
        (c2l, CLIENT, VIP, "SYN", 0),
        (l2c, VIP, CLIENT, "SYN,ACK", 0),  # the proxy itself answers: TCP terminated
        (c2l, CLIENT, VIP, "ACK", 0),
        (c2l, CLIENT, VIP, "PSH,ACK", 400),
        (l2c, VIP, CLIENT, "ACK", 0),
        (l2b, LB_INSIDE, BACKEND, "SYN", 0),  # only now, request complete: a new connection
        (b2l, BACKEND, LB_INSIDE, "SYN,ACK", 0),
        (l2b, LB_INSIDE, BACKEND, "ACK", 0),
        (l2b, LB_INSIDE, BACKEND, "PSH,ACK", 400),
        (b2l, BACKEND, LB_INSIDE, "ACK", 0),
        (b2l, BACKEND, LB_INSIDE, "PSH,ACK", 1000),
        (l2c, VIP, CLIENT, "PSH,ACK", 1000),
        (l2b, LB_INSIDE, BACKEND, "ACK", 0),
        (c2l, CLIENT, VIP, "ACK", 0),
        (c2l, CLIENT, VIP, "FIN,ACK", 0),
        (l2c, VIP, CLIENT, "FIN,ACK", 0),
        (c2l, CLIENT, VIP, "ACK", 0),
    ]


def test_l7_latency_adds_backend_round_trips() -> None:
    """L7 cold upstream: 2 client RTTs + 2 backend RTTs (connect, exchange) + service."""
    run = run_variant(TINY, "l7")
    (req,) = run.recorder.requests
    rtt_c, rtt_b = 2 * LC, 2 * LB
    serialization = 2 * SYN + PURE + 2 * REQ + 2 * SYN + PURE + 2 * RESP
    assert req.latency == pytest.approx(2 * rtt_c + 2 * rtt_b + 0.005 + serialization, abs=1e-12)
    assert req.t_lb_last_byte is not None and req.t_backend_first_byte is not None
    assert req.t_backend_first_byte > req.t_lb_last_byte


def test_segment_records_are_values() -> None:
    run = run_variant(TINY, "l4", trace_segments=True)
    assert all(isinstance(s, SegmentRecord) for s in run.recorder.segments)
    first = run.recorder.segments[0]
    with pytest.raises(AttributeError):
        first.time = 1.0  # type: ignore[misc]


def test_the_proxy_port_is_not_the_clients() -> None:
    assert LB_INSIDE.split(":")[1] != CLIENT.split(":")[1]
