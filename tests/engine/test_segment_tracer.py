"""The segment tracer writes each segment's fields as text formatted from the segment.

The tracer formats an address, a flag combination and a connection's name once and
looks them up afterwards; these tests check that what it writes is, segment after
segment and in both directions, exactly what formatting each segment afresh gives.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from lbsim.net.addresses import endpoint_str, ip_to_str
from lbsim.net.segment import ACK, FIN, PSH, RST, SYN, Segment, flag_names
from lbsim.records import Recorder, SegmentRecord
from lbsim.run.links import segment_tracer

CLIENT, VIP, BACKEND = 0x0A000001, 0xCB007105, 0x0A010002


def expected(link: Any, seg: Segment, t: float, dropped: bool) -> SegmentRecord:
    """The record, every text formatted from this segment alone."""
    a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
    lo, hi = (a, b) if a <= b else (b, a)
    return SegmentRecord(
        variant="l4",
        time=t,
        link=link.name,
        side=link.side,
        src=ip_to_str(seg.src),
        dst=ip_to_str(seg.dst),
        sport=seg.sport,
        dport=seg.dport,
        seq=seg.seq,
        ack=seg.ack,
        flags=flag_names(seg.flags),
        window=seg.window,
        payload=seg.length,
        dropped=dropped,
        connection=f"{endpoint_str(*lo)}-{endpoint_str(*hi)}",
    )


def test_the_tracer_writes_what_formatting_each_segment_gives() -> None:
    recorder = Recorder("l4")
    trace = segment_tracer(recorder)
    client_side = SimpleNamespace(name="c1>l4", side="client")
    backend_side = SimpleNamespace(name="l4>srv-1", side="backend")
    flows = [
        (client_side, CLIENT, 40000, VIP, 80),
        (client_side, VIP, 80, CLIENT, 40000),  # the reply: the same connection name
        (backend_side, CLIENT, 40000, BACKEND, 8080),  # NAT rewrote the destination
        (backend_side, BACKEND, 8080, CLIENT, 40000),
        (client_side, CLIENT, 40001, VIP, 80),  # the next port: another connection
    ]
    flag_sets = [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, 0]
    want = []
    for i in range(60):  # every combination seen more than once: looked up, not formatted
        link, src, sport, dst, dport = flows[i % len(flows)]
        seg = Segment(src, dst, sport, dport, 1000 + i, 2000 + i, flag_sets[i % 7], 502, i)
        dropped = i % 11 == 0
        trace(link, seg, i * 0.001, dropped)  # type: ignore[arg-type]
        want.append(expected(link, seg, i * 0.001, dropped))
    got = list(recorder.segments)
    assert got == want
    assert len({r.connection for r in got}) == 3
    assert got[0].connection == got[1].connection == "10.0.0.1:40000-203.0.113.5:80"
