"""A router of a topology: forwarding by destination, ECMP over a tier's instances.

Theory of operation: a router node of a scenario's ``topology:`` receives
segments from the links that end at it and sends each on one link that leaves
it, chosen by destination address (:meth:`Router.add_route`). For the address
of a tier whose instances are reached by ECMP (equal-cost multipath), it has
several next hops -- one link per instance -- and picks one per *flow*: it hashes
the 5-tuple (protocol, always TCP here; source and destination address and port)
so every segment of a connection takes the same next hop, as routers do
(RFC 2992 analyses hash-based multipath; RFC 6438 the flow hash).

The hash is :func:`lbsim.streams.mix_ints` keyed by a per-router salt from the
run's seed, so it is deterministic and the same in every variant. Flows map to
next hops through a table of ``BUCKETS_PER_HOP`` buckets per next hop
("resilient hashing"): bucket ``hash mod B`` names the next hop. When a next hop
fails, only its buckets are handed to the others, round robin, so flows on the
surviving next hops keep their path and only the failed hop's flows move -- the
flows a failed L4 instance held are re-hashed to the other instances, which then
see mid-connection segments of flows they never saw a SYN of.

Forwarding costs no CPU and adds no delay beyond the links' own: the router is
a dictionary lookup between two links. A router given a recorder records each new
flow's pick as a decision (``ecmp_pick``: the next hop, the bucket, the table's
size and the next hops in service) for ``lbsim trace`` and the packet viewer.
"""

from __future__ import annotations

from lbsim.net.addresses import endpoint_str
from lbsim.net.link import Link
from lbsim.net.segment import ACK, SYN, Segment
from lbsim.records import Recorder
from lbsim.streams import mix_ints

__all__ = ["BUCKETS_PER_HOP", "EcmpGroup", "Router", "flow_hash"]

#: Buckets of an ECMP table per next hop: enough that shares stay near 1/N after
#: a failure hands a hop's buckets to the others.
BUCKETS_PER_HOP = 64

#: IANA protocol number of TCP, the 5-tuple's first field.
TCP = 6
#: Flags that tell a connection's first segment (SYN set, ACK clear).
_SYN_ONLY = SYN | ACK


def flow_hash(salt: int, src: int, sport: int, dst: int, dport: int) -> int:
    """The 64-bit hash of a TCP flow's 5-tuple under ``salt``."""
    return mix_ints(salt, TCP, src, sport, dst, dport)


class EcmpGroup:
    """The next hops of one destination, and the bucket table that spreads flows.

    Attributes:
        hops: Next-hop links, in order (one per instance).
        alive: Whether each next hop is in service.
        buckets: Next-hop index of each bucket.
        forwarded: Segments sent on each next hop.
        flows: Connections opened (SYNs without ACK) sent on each next hop.
    """

    def __init__(self, hops: list[Link], salt: int) -> None:
        if not hops:
            raise ValueError("an ECMP group needs at least one next hop")
        self.hops = list(hops)
        self.salt = salt
        self.alive = [True] * len(hops)
        self.buckets = [i % len(hops) for i in range(BUCKETS_PER_HOP * len(hops))]
        self.forwarded = [0] * len(hops)
        self.flows = [0] * len(hops)

    def bucket(self, seg: Segment) -> int:
        """The bucket of ``seg``'s flow."""
        return flow_hash(self.salt, seg.src, seg.sport, seg.dst, seg.dport) % len(self.buckets)

    def pick(self, seg: Segment) -> int:
        """Index of the next hop of ``seg``'s flow."""
        return self.buckets[self.bucket(seg)]

    def fail(self, index: int) -> int:
        """Take next hop ``index`` out: its buckets go to the others, round robin.

        Returns:
            How many buckets moved.

        Raises:
            ValueError: If it is the last next hop in service.
        """
        if not self.alive[index]:
            return 0
        survivors = [i for i, up in enumerate(self.alive) if up and i != index]
        if not survivors:
            raise ValueError("cannot fail the last next hop of an ECMP group")
        self.alive[index] = False
        moved = 0
        for b, hop in enumerate(self.buckets):
            if hop == index:
                self.buckets[b] = survivors[moved % len(survivors)]
                moved += 1
        return moved


class Router:
    """A forwarding node: one link per destination address, or an ECMP group.

    Attributes:
        name: Node name (links are named after it).
        routes: Destination address -> link.
        groups: Destination address -> ECMP group.
        unroutable: Segments with no route (dropped).
        recorder: Where new flows' ECMP picks are recorded (``None``: not recorded).
    """

    def __init__(self, name: str, salt: int, recorder: Recorder | None = None) -> None:
        self.name = name
        self.salt = salt
        self.recorder = recorder
        self.routes: dict[int, Link] = {}
        self.groups: dict[int, EcmpGroup] = {}
        self.unroutable = 0

    def add_route(self, dst: int, link: Link) -> None:
        """Send segments for ``dst`` on ``link``."""
        self.routes[dst] = link

    def add_ecmp(self, dst: int, hops: list[Link]) -> EcmpGroup:
        """Spread flows to ``dst`` over ``hops`` (see the module docstring)."""
        group = EcmpGroup(hops, mix_ints(self.salt, dst))
        self.groups[dst] = group
        return group

    def receive(self, seg: Segment, now: float) -> None:
        """Forward a segment that arrived at ``now`` (links into the router deliver here)."""
        group = self.groups.get(seg.dst)
        if group is not None:
            index = group.pick(seg)
            group.forwarded[index] += 1
            if seg.flags & _SYN_ONLY == SYN:
                group.flows[index] += 1
                if self.recorder is not None:
                    self._record(group, seg, index, now)
            group.hops[index].send(seg, now)
            return
        link = self.routes.get(seg.dst)
        if link is None:
            self.unroutable += 1
            return
        link.send(seg, now)

    def _record(self, group: EcmpGroup, seg: Segment, index: int, now: float) -> None:
        """Record a new flow's pick (``connection`` as the segment trace names it)."""
        assert self.recorder is not None
        a, b = endpoint_str(seg.src, seg.sport), endpoint_str(seg.dst, seg.dport)
        self.recorder.decide(
            now,
            self.name,
            "ecmp_pick",
            connection=f"{a}-{b}" if (seg.src, seg.sport) <= (seg.dst, seg.dport) else f"{b}-{a}",
            backend=group.hops[index].name.partition(">")[2],
            bucket=group.bucket(seg),
            buckets=len(group.buckets),
            hops=len(group.hops),
            alive=sum(group.alive),
        )
