"""A carrier counts, on links and in a forwarder's CPU, what it stands for.

A carrier link counts :func:`~lbsim.net.segment.represented` segments sent; a
packet-forwarding balancer charges a carrier the work of every segment that would
have passed it at segment level: a NAT sees them all (data and ACKs both ways), a
DSR balancer a client's segments and the client's ACKs of a backend's reply.
"""

from __future__ import annotations

import pytest
import simpy

from lbsim.lb.conntable import EntryState
from lbsim.lb.l4 import L4Balancer
from lbsim.net.addresses import VIP, client_address
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
    carried,
    represented,
    sent_with,
)
from lbsim.sim import build_variant
from scenarios import scenario

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


def _forwarder(mode: str, cores: int) -> tuple[L4Balancer, int]:
    """A request-level forwarder (1 ms per segment) and the port of an established entry."""
    balancer = {
        "name": mode, "layer": 4, "mode": mode, "algorithm": "round_robin", "cores": cores,
        "costs": {"per_segment": "1ms"},
    }  # fmt: skip
    build = build_variant(scenario(balancers=[balancer], fidelity="request"), mode)
    lb = build.lb
    assert isinstance(lb, L4Balancer)
    port = 40000
    lb.receive(Segment(client_address(0), VIP, port, 80, 0, 0, SYN, 0xFFFF, 0, 1460, 7), 0.0)
    entry = lb.table.get(client_address(0), port)
    assert entry is not None
    lb.table.set_state(entry, EntryState.ESTABLISHED)
    return lb, port


def _to_vip(seg: Segment, port: int) -> Segment:
    return seg._replace(src=client_address(0), dst=VIP, sport=port, dport=80)


@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("mode", ["nat", "dsr"])
def test_a_forwarder_charges_every_segment_a_client_carrier_stands_for(
    mode: str, cores: int
) -> None:
    """NAT: the carrier and every ACK it accounts for; DSR: what the client sends."""
    for seg in CARRIERS:
        lb, port = _forwarder(mode, cores)
        before = (lb.cpu.busy, lb.cpu.jobs)
        lb.receive(_to_vip(seg, port), 1.0)
        segments = represented(seg) if mode == "nat" else sent_with(seg)
        assert lb.cpu.busy - before[0] == pytest.approx(0.001 * segments), seg
        # One job for the carrier, one for what it draws later, one for a riding ACK.
        assert lb.cpu.jobs - before[1] <= 3


def test_a_dsr_balancer_charges_the_client_acks_of_a_reply() -> None:
    """A reply skips the balancer; the client's ACKs of its data do not."""
    for seg in CARRIERS:
        if seg.wscale & ACK_RIDES and not seg.flags & SYN:
            continue  # the handshake's last ACK is the client's: never on a reply
        lb, port = _forwarder("dsr", 1)
        assert lb.router is not None
        before = lb.cpu.busy
        reply = seg._replace(src=lb.backends[0].ip, dst=client_address(0), sport=8080, dport=port)
        lb.router.receive(reply, 1.0)
        acks = carried(seg) if seg.length and not seg.flags & (FIN | SYN) else 0
        assert lb.cpu.busy - before == pytest.approx(0.001 * acks), seg


def test_one_core_inline_charges_as_cpu_run() -> None:
    """The one-core fast path queues exactly as Cpu.run would (busy, waited, jobs)."""
    runs = []
    for cores in (1, 2):
        lb, port = _forwarder("nat", cores)
        lb.cpu.cores = 1 if cores == 2 else lb.cpu.cores  # two cores, one used: same queue
        lb.cpu.free[1:] = []
        for i, seg in enumerate(CARRIERS * 3):
            lb.receive(_to_vip(seg, port), 1.0 + 0.0005 * i)
        runs.append((lb.cpu.busy, lb.cpu.waited, lb.cpu.jobs, list(lb.cpu.free)))
    assert runs[0] == runs[1]
