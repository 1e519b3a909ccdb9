"""A carrier link counts what :func:`~lbsim.net.segment.represented` says a carrier stands for."""

from __future__ import annotations

import pytest
import simpy

from lbsim.net.link import Link, to_carrier_link
from lbsim.net.segment import (
    ACK,
    ACK_RIDES,
    ACKS_SHIFT,
    FIN,
    FIN_ACK_COUNTED,
    PSH,
    SYN,
    Segment,
    represented,
)
from lbsim.run.fidelity import _dsr_client_extra, _dsr_reply_extra, _nat_extra

CARRIERS = [
    Segment(1, 2, 3, 4, 0, 0, SYN, 0xFFFF, 0, 1460, 7),  # a SYN: wscale is an option
    Segment(1, 2, 3, 4, 0, 0, ACK, 100, 0),  # a pure ACK
    Segment(1, 2, 3, 4, 0, 0, ACK | PSH, 100, 400),  # one segment of data
    Segment(1, 2, 3, 4, 0, 0, ACK | PSH, 100, 400, 0, ACK_RIDES),  # ... with the handshake ACK
    Segment(1, 2, 3, 4, 0, 0, ACK | PSH, 100, 30_000, 0, 21),  # 21 segments
    Segment(1, 2, 3, 4, 0, 0, ACK | PSH, 100, 30_000, 0, 21 | 9 << ACKS_SHIFT | ACK_RIDES),
    Segment(1, 2, 3, 4, 0, 0, ACK | PSH | FIN, 100, 30_000, 0, 21),  # data ending with FIN
    Segment(1, 2, 3, 4, 0, 0, ACK | FIN, 100, 0, 0, FIN_ACK_COUNTED),  # the close's last FIN
    Segment(1, 2, 3, 4, 0, 0, ACK, 100, 0, 0, 5),  # the ACKs of a 5-segment carrier
]


@pytest.mark.parametrize("seg", CARRIERS)
def test_sent_counts_represented(seg: Segment) -> None:
    env = simpy.Environment()
    link = Link(env, "a>b", "client", latency=0.001, bandwidth=1e9, mtu=1500, queue_bytes=1 << 20)
    to_carrier_link(link)
    link.attach(lambda seg, now: None)
    link.send(seg)
    assert link.sent == represented(seg)


def test_a_syn_costs_a_forwarder_nothing_extra() -> None:
    """charge_carriers takes a SYN's extra work as 0 without asking the mode."""
    syns = [seg for seg in CARRIERS if seg.flags & SYN]
    for extra in (_nat_extra, _dsr_client_extra, _dsr_reply_extra):
        assert all(extra(seg) == 0 for seg in syns)
