"""The router a DSR balancer's backends answer clients through.

Theory of operation: under direct server return the balancer forwards only what
clients send; each backend holds the VIP on a loopback interface and answers
from it, through its gateway, straight to the client. That gateway is this
router: it looks up the client's link by destination address and forwards the
packet unchanged (only the link-layer hop changes), so a reply costs the
balancer nothing -- but the client's ACKs of it go to the VIP, and so through
the balancer. At request level those ACKs are counted with the reply's carrier
rather than sent, so the router charges the balancer's CPU for them as it
forwards the reply (:meth:`DirectReturn.charge_to`).
"""

from __future__ import annotations

from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.net.addresses import LB_INSIDE
from lbsim.net.link import Link
from lbsim.net.segment import ACK_RIDES, CARRIED_MASK, FIN, SYN, Segment


class DirectReturn:
    """The path a DSR backend's replies take: the router that is the backends' gateway.

    The backend answers with the VIP as its source address (it holds the VIP on a
    loopback interface), so the reply needs no address rewriting: the router looks
    the destination up, forwards the packet onto the client's link with its own
    MAC address as the source and the next hop's as the destination, and
    decrements the TTL (the packet capture writes those L2 and TTL changes). It
    costs no balancer CPU, except at request level, where it charges the
    balancer for the client's ACKs of the reply (:meth:`charge_to`). Answers to
    the balancer's health probes (to its inside address) are routed to the
    balancer.
    """

    def __init__(self, client_links: dict[int, Link], inside: int = LB_INSIDE) -> None:
        self.client_links = client_links
        self.inside = inside
        self.forwarded = 0
        self.probe_stack: TcpStack | None = None
        self._cpu: Cpu | None = None
        self._cost = 0.0
        self._ride_ack_time: dict[int, float] = {}

    def charge_to(self, cpu: Cpu, cost: float, ride_ack_time: dict[int, float]) -> None:
        """Request level: charge the balancer for the ACKs a reply draws from its client.

        At segment level the client's ACKs of a reply pass the DSR balancer (they
        go to the VIP), one ``cost`` each; at request level they are counted with
        the reply's carrier, so the router charges them when it forwards it.
        """
        self._cpu = cpu if cost else None
        self._cost = cost
        self._ride_ack_time = ride_ack_time

    def receive(self, seg: Segment, now: float) -> None:
        """Forward a backend's reply (arriving at ``now``) towards its client."""
        self.forwarded += 1
        cpu = self._cpu
        if cpu is not None and not seg.flags & SYN:  # request level: the ACKs it draws
            w = seg.wscale
            more = 0
            if seg.length and not seg.flags & FIN:
                more = (w & CARRIED_MASK) or 1 if w > 1 else 1
            if w & ACK_RIDES:  # the handshake's last ACK came just before it
                cpu.run(now - self._ride_ack_time[seg.src], self._cost)
                more -= 1
            if more > 0:
                cpu.run(now, self._cost * more)
        if seg.dst == self.inside and self.probe_stack is not None:
            self.probe_stack.receive(seg, now)
        else:
            self.client_links[seg.dst].send(seg)
