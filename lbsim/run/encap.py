"""Direct server return across a router: the balancer tunnels each packet to its backend.

Theory of operation: a ``dsr`` balancer forwards the client's packets unchanged --
destination still the VIP -- and the chosen backend, which holds the VIP on a
loopback interface, answers the client directly. In the star the balancer has a
link of its own to each backend, so "send to that backend" is just "send on that
link" (layer-2 DSR). In a topology the last tier reaches its backends through
their service's router, which forwards by destination address, and every
backend's destination is the same VIP: routing alone cannot deliver it.

Real layer-4 balancers that sit a router away from their backends therefore
**encapsulate**: Maglev sends each packet inside GRE to the backend's address
(Eisenbud et al., NSDI 2016, section 3.2), Katran and IPVS's tunnel mode use
IP-in-IP; the backend strips the outer header and sees the client's packet. Here
:class:`Tunnel` is the balancer's view of one backend (it stands for the
backend's link in the :class:`~lbsim.lb.backends.BackendRef`): it sends the
inner packet on the balancer's link to the service's router and records the
outer destination; :class:`Decap`, at the router end of that link, takes the
next outer destination and hands the packet to that backend's link. A link
delivers in the order it accepted, and drops only when accepting (a full queue,
a loss draw), so one first-in first-out queue of outer destinations per link
pairs each packet with its own.

The 20-byte outer header is not added to the packet's size: links carry, and
captures show, the inner packet (a simplification that the scenario reference
states). Replies do not come back this way: the backend sends them, source VIP,
to the client through its router.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from lbsim.net.link import Link
    from lbsim.net.segment import Segment

__all__ = ["Decap", "Tunnel"]


class Decap:
    """The router end of a tunnelling balancer's link: delivers to the outer destination.

    Attributes:
        link: The balancer's link to the router.
        outer: Outer destination (the backend's link) of each packet in flight, in order.
        delivered: Packets handed to a backend.
    """

    def __init__(self, link: Link) -> None:
        self.link = link
        self.outer: deque[Link] = deque()
        self.delivered = 0
        link.attach(self.receive)

    def receive(self, seg: Segment, now: float) -> None:
        """The next packet off the link: send it on its backend's link."""
        self.delivered += 1
        self.outer.popleft().send(seg, now)


class Tunnel:
    """One backend as a tunnelling balancer sees it (stands for a link).

    Attributes:
        decap: The router end of the link the packets go on.
        backend_link: The router's link to the backend (the outer destination).
        mtu: MTU of the balancer's link (what a link's sender may check).
        name: ``<balancer link>~<backend link>``.
    """

    def __init__(self, decap: Decap, backend_link: Link) -> None:
        self.decap = decap
        self.backend_link = backend_link
        self.mtu = decap.link.mtu
        self.name = f"{decap.link.name}~{backend_link.name}"

    def send(self, seg: Segment, ready: float | None = None) -> bool:
        """Send ``seg`` towards the backend; False if the first link dropped it."""
        if self.decap.link.send(seg, ready):
            self.decap.outer.append(self.backend_link)
            return True
        return False

    def as_link(self) -> Link:
        """This tunnel where a :class:`~lbsim.net.link.Link` is expected (it sends alike)."""
        return cast("Link", self)
