"""Where a topology run is captured: at the instances of the variant's tier.

Theory of operation: without a topology the capture point is the one balancer, and
every link has it at one end. In a topology a packet crosses many links (access,
routers, several tiers); capturing all of them would show each packet once per hop,
which Wireshark reads as retransmissions. ``tcpdump`` runs on a machine, so the
capture is taken where the variant's balancer runs: on each instance of the tier
that says ``balancer: variant``. Only the links with one of those instances at an
end feed the capture -- the links towards the clients (or the tier in front) go to
``<variant>-client.pcap``, those towards what the tier balances over to
``<variant>-backend.pcap`` -- and the packets of all the tier's instances are
merged in time order, as ``mergecap`` would merge one capture per instance.

The far end of each such link is a router or another tier's instance rather than
a client host or backend; :func:`tier_tap` names them to the capture (another
instance by its own address, a router by an address of TEST-NET-1, RFC 5737,
that only feeds its MAC address) so it tells packets arriving at an instance from
packets leaving it.
"""

from __future__ import annotations

from typing import Any

from lbsim.capture.capture import VariantCapture
from lbsim.net.addresses import tier_address
from lbsim.net.link import Link
from lbsim.net.segment import Segment

__all__ = ["element_addresses", "tier_tap"]

#: 192.0.2.0 (TEST-NET-1): routers' addresses for their MAC addresses in captures.
_ROUTER_BASE = (192 << 24) | (2 << 8)


def element_addresses(scenario: Any) -> dict[str, int]:
    """Every tier instance's address, and a TEST-NET-1 address per router, by name."""
    topo = scenario.topology
    named: dict[str, int] = {}
    for t, tier in enumerate(topo.tiers):
        for i in range(1, tier.instances + 1):
            named[f"{tier.name}-{i}"] = tier_address(t, i)
    nodes = [*topo.routers, *topo.services, *topo.sites]
    for n, node in enumerate(nodes, start=1):
        named[node.name] = _ROUTER_BASE + n
    return named


def tier_tap(capture: VariantCapture, scenario: Any) -> Any:
    """A tap that feeds ``capture`` the links of the variant tier's instances only."""
    topo = scenario.topology
    variant = topo.variant_tier().name
    tier = next(t for t in topo.tiers if t.name == variant)
    mine = {f"{variant}-{i}" for i in range(1, tier.instances + 1)}
    far = {name: ip for name, ip in element_addresses(scenario).items() if name not in mine}
    capture.add_hosts(far)
    inner = capture.tap

    def tap(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        sender, _, receiver = link.name.rpartition(">")
        if sender in mine or receiver in mine:
            inner(link, seg, t, dropped)

    return tap
