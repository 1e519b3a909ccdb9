"""Connection records count what the links carry (the ``segments`` column).

``docs/reference/outputs.md`` defines ``segments`` as the segments of the connection
in both directions: every segment its opener sent (the SYN included) plus every
segment it received. On a lossless path that is exactly what the segment trace
shows on the opener's link, both ways.
"""

from __future__ import annotations

import pytest

from lbsim.sim import run_variant
from scenarios import FREE, scenario

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


def test_l4_client_connection_counts_the_syn_and_both_directions() -> None:
    """Issue 11, bug 3: the record said 5 where the links carry 6 from the opener, 10 in all."""
    run = run_variant(TINY, "l4", trace_segments=True)
    (record,) = [c for c in run.recorder.connections if c.side == "client"]
    sent = [s for s in run.recorder.segments if s.link == "c-h0>l4"]
    received = [s for s in run.recorder.segments if s.link == "l4>c-h0"]
    assert len(sent) == 6 and sent[0].flags == "SYN"
    assert len(received) == 4
    assert record.segments == len(sent) + len(received) == 10
    assert record.retransmissions == 0


@pytest.mark.parametrize(("variant", "side"), [("l7", "client"), ("l7", "backend")])
def test_l7_connection_records_match_their_links(variant: str, side: str) -> None:
    """The same rule holds for the L7 proxy's client-side and upstream connections."""
    run = run_variant(TINY, variant, trace_segments=True)
    (record,) = [c for c in run.recorder.connections if c.side == side]
    src = record.src.rsplit(":", 1)
    dst = record.dst.rsplit(":", 1)
    both = [
        s
        for s in run.recorder.segments
        if {(s.src, str(s.sport)), (s.dst, str(s.dport))} == {tuple(src), tuple(dst)}
    ]
    assert len(both) > 6
    assert record.segments == len(both)
