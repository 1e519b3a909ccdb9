"""A layer-4 balancer in NAT mode: a connection table and per-packet rewriting.

Theory of operation: the balancer owns the virtual address (VIP). It never
terminates TCP and never looks past the TCP header. The first segment of a new
connection (a SYN to the VIP) makes it choose a backend with its per-connection
algorithm and insert an entry into its *connection table*, keyed by the client's
address and port. From then on every segment of that connection is rewritten
and forwarded the moment it arrives (cut-through, nothing buffered):

* inbound  (client -> VIP):      destination VIP:80 becomes backend:8080;
* outbound (backend -> client):  source backend:8080 becomes VIP:80.

So one TCP connection runs end to end between client and backend, and all of its
segments -- hence all requests on it -- reach the same backend (stickiness). The
entry is removed once both FINs have been seen and acknowledged, or at once on RST.
Each forwarded segment costs ``per_segment`` of CPU on a finite number of cores.
"""

from __future__ import annotations

from collections.abc import Sequence

import simpy

from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.cpu import Cpu
from lbsim.net.addresses import BACKEND_PORT, VIP, VIP_PORT
from lbsim.net.link import Link
from lbsim.net.segment import ACK, FIN, RST, SYN, Segment
from lbsim.records import Recorder
from lbsim.streams import mix64, mix_ints

_CLOSING = FIN | RST
_new_tuple = tuple.__new__


class NatEntry:
    """One connection-table entry.

    Attributes:
        client_ip, client_port: The client's side of the connection.
        backend: Where the connection was placed.
        created: When the SYN arrived.
        fins: Bit 1 once the client sent FIN, bit 2 once the backend did.
    """

    __slots__ = ("backend", "client_ip", "client_port", "created", "fins", "last_seen")

    def __init__(self, client_ip: int, client_port: int, backend: BackendRef, now: float) -> None:
        self.client_ip = client_ip
        self.client_port = client_port
        self.backend = backend
        self.created = now
        self.last_seen = now
        self.fins = 0


class L4NatBalancer:
    """Layer-4 NAT balancer.

    Attributes:
        table: Connection table: ``(client ip, client port, VIP port) -> entry``.
        peak_entries: Largest table size seen.
        stray: Segments that matched no entry and were dropped.
    """

    layer = 4

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
        client_links: dict[int, Link],
        *,
        cpu: Cpu,
        per_segment: float,
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.name = name
        self.backends = list(backends)
        self.algorithm = algorithm
        self.client_links = client_links
        self.cpu = cpu
        self.per_segment = per_segment
        self.recorder = recorder
        self.table: dict[tuple[int, int, int], NatEntry] = {}
        self._reverse: dict[tuple[int, int, int, int], NatEntry] = {}
        self.peak_entries = 0
        self.stray = 0
        #: Every placement ever made, ``(client ip, port) -> backend name``; kept
        #: for connection records after table entries are gone.
        self.placements: dict[tuple[int, int], str] = {}
        self.buffered_bytes = 0
        self._hash_ip_only = algorithm.name == "source_hash"

    # The balancer is the ``deliver`` target of every link that ends at it.
    def receive(self, seg: Segment) -> None:
        """Forward one segment, rewriting its addresses."""
        now = self.env._now
        ready = self.cpu.run(now, self.per_segment)
        src, dst, sport, dport = seg[:4]
        flags = seg.flags
        if dst == VIP:
            entry = self.table.get((src, sport, dport))
            if entry is None:
                entry = self._new_connection(seg, now)
                if entry is None:
                    return
            backend = entry.backend
            # Destination NAT: VIP:80 -> backend:8080, everything else unchanged.
            out: Segment = _new_tuple(Segment, (src, backend.ip, sport, BACKEND_PORT, *seg[4:]))
            if flags & _CLOSING or entry.fins == 3:
                self._track_close(entry, flags, 1)
            backend.link.send(out, ready)
        else:
            entry = self._reverse.get((src, sport, dst, dport))
            if entry is None:
                self.stray += 1
                return
            # Reverse NAT: backend:8080 -> VIP:80 as the source.
            out = _new_tuple(Segment, (VIP, dst, VIP_PORT, dport, *seg[4:]))
            if flags & _CLOSING or entry.fins == 3:
                self._track_close(entry, flags, 2)
            self.client_links[dst].send(out, ready)

    def _new_connection(self, seg: Segment, now: float) -> NatEntry | None:
        if not seg.flags & SYN or seg.flags & ACK:
            self.stray += 1
            return None
        key = mix64(seg.src) if self._hash_ip_only else mix_ints(seg.src, seg.sport)
        backend = self.algorithm.pick(self.backends, now, key)
        backend.active += 1
        entry = NatEntry(seg.src, seg.sport, backend, now)
        self.placements[(seg.src, seg.sport)] = backend.name
        self.table[(seg.src, seg.sport, seg.dport)] = entry
        self._reverse[(backend.ip, BACKEND_PORT, seg.src, seg.sport)] = entry
        if len(self.table) > self.peak_entries:
            self.peak_entries = len(self.table)
        return entry

    def _track_close(self, entry: NatEntry, flags: int, direction: int) -> None:
        if flags & RST:
            self._remove(entry)
        elif flags & FIN:
            entry.fins |= direction
        elif entry.fins == 3 and flags & ACK:
            # The ACK of the second FIN: the connection is over.
            self._remove(entry)

    def _remove(self, entry: NatEntry) -> None:
        key = (entry.client_ip, entry.client_port, VIP_PORT)
        if self.table.pop(key, None) is not None:
            backend = entry.backend
            backend.active -= 1
            del self._reverse[(backend.ip, BACKEND_PORT, entry.client_ip, entry.client_port)]

    def placement(self, client_ip: int, client_port: int) -> str | None:
        """Backend the connection from ``client_ip:client_port`` was placed on."""
        return self.placements.get((client_ip, client_port))

    @property
    def table_entries(self) -> int:
        """Live connection-table entries."""
        return len(self.table)
