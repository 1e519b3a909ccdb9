"""Packet capture of a run: a tap on every link, one pcap file per side of the balancer.

Theory of operation: the engine calls a *tap* for every segment offered to every
link (:data:`lbsim.sim.Tap`). :class:`VariantCapture` is such a tap. It captures
the way ``tcpdump`` on the balancer would, on its two interfaces:

* ``<variant>-client.pcap``: the links between clients and the balancer;
* ``<variant>-backend.pcap``: the links between the balancer and the backends.

The capture point is the balancer, so a packet *arriving* at the balancer is
stamped with its arrival time (the tap's start-on-the-wire time, plus the frame's
serialization at the link's bandwidth, plus the link's latency: exactly when the
link delivers it) and a packet *leaving* the balancer with the time it starts onto
the wire (the tap's time unchanged). Both files therefore use the balancer's clock,
and can be merged (``mergecap``) to watch a request cross it. Segments dropped by a
full queue never reach the wire and are not captured.

Three things happen to each segment:

1. *Tracking* (every segment, captured or not): a table per side maps the 4-tuple
   to a connection, learned from its SYNs. It records each direction's initial
   sequence number and, from the segment's message marks, which application
   message ends at which stream offset (:class:`~lbsim.capture.payload.ByteStream`).
   The limits (:mod:`lbsim.capture.limits`) decide per connection, at its first
   SYN, whether it is kept or dropped; an L7 proxy's upstream connection under a
   connection or client limit is *pending*: it carries many clients' requests,
   so its packets are kept one by one, if they belong to the exchange of a
   request that a kept client connection carried.
2. *Ordering*: arrival stamps lie in the future of the moment the tap is called,
   so kept packets wait in a heap ordered by (stamp, tap order). Every later tap
   call happens at a simulated time ``now`` no earlier than this one, and stamps
   are never earlier than the ``now`` at which their tap call happens, so every
   packet stamped ``<= now`` can leave the heap: the heap only holds packets in
   flight.
3. *Spooling*: a packet leaving the heap is appended, as a fixed-size binary
   record of its header fields, to a spool file next to the capture. Payload bytes
   cannot be written yet: a segment carrying the first bytes of a 300 KB response
   is sent long before the segment carrying the mark that says which response it
   is.

When the run has ended, :meth:`VariantCapture.finish` reads each spool once, in
order, synthesizes every payload from the byte streams
(:mod:`lbsim.capture.payload`) and writes the pcap file (:mod:`lbsim.capture.pcap`).
Memory holds the connection table and the message marks (one entry per message,
like the run's own request records), never the packets; packets stream to disk.

Link layer and IP details: each host has a stable MAC derived from its address;
on the client side the balancer's interface is the VIP's, on the backend side its
inside address's. TTL is 64 on packets that leave their sender on that link and
63 on packets an L4 NAT balancer forwarded (it routes them). The IPv4
identification is a hash of the connection's opener, direction and TCP header
fields, so the same packet has the same IP ID on both sides of an L4 NAT balancer,
which rewrites addresses and ports only.
"""

from __future__ import annotations

import heapq
import itertools
import struct
import zlib
from bisect import bisect_left, insort
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lbsim.capture.limits import CaptureLimits, client_addresses, host_addresses
from lbsim.capture.payload import UNKNOWN, ByteStream
from lbsim.capture.pcap import PcapWriter, mac_for, tcp_frame
from lbsim.net.addresses import BACKEND_PORT, LB_INSIDE, VIP
from lbsim.net.link import Link, wire_bytes
from lbsim.net.segment import ACK, FIN, RST, SEQ_MASK, SYN, Segment

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["SIDES", "CaptureFiles", "VariantCapture"]

#: The two capture files of a variant, in this order.
SIDES = ("client", "backend")

# Spool record: stamp, connection id, direction, link index, stream offset, then
# the header fields (src, dst, sport, dport, seq, ack, flags, window, length, mss,
# wscale).
_SPOOL = struct.Struct("<dIBIIIIHHIIBHHHB")
_NO_OFFSET = 0xFFFFFFFF
_CHUNK = 4096  # spool records read at a time
_IP_ID = struct.Struct("!IHBIIBH")

# Connection states.
_KEEP, _DROP, _PENDING = 0, 1, 2
_CONTROL = SYN | FIN | RST


class CaptureFiles(NamedTuple):
    """The capture files of one variant.

    Attributes:
        client: Client-side capture (clients <-> balancer).
        backend: Backend-side capture (balancer <-> backends).
    """

    client: Path
    backend: Path


class _Conn:
    """One TCP connection seen on one side."""

    __slots__ = (
        "id",
        "isn",
        "opened",
        "opener_ip",
        "opener_port",
        "ranges",
        "state",
        "streams",
    )

    def __init__(self, ident: int, seg: Segment, state: int) -> None:
        self.id = ident
        self.opened = False  # the opener has acknowledged the SYN-ACK
        self.opener_ip = seg.src
        self.opener_port = seg.sport
        self.isn: list[int | None] = [seg.seq, None]
        self.state = state
        self.streams: tuple[ByteStream, ByteStream] | None = (
            None if state == _DROP else (ByteStream(), ByteStream())
        )
        # Pending connections: per direction, sorted (start, end) stream ranges of
        # the messages that concern the kept client connections.
        self.ranges: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])

    def wants(self, direction: int, flags: int, offset: int, length: int, ack: int) -> bool:
        """Whether a pending connection's packet belongs to a kept exchange.

        Kept: the handshake, FIN and RST of a connection with any kept exchange;
        data overlapping a kept message; pure ACKs of bytes of a kept message.
        """
        ranges = self.ranges
        if not (ranges[0] or ranges[1]):
            return False
        if flags & _CONTROL:
            return True
        if length:
            own = ranges[direction]
            i = bisect_left(own, (offset + length,))
            return i > 0 and own[i - 1][1] > offset
        isn = self.isn[1 - direction]
        if isn is None:
            return False
        acked = (ack - isn - 1) & SEQ_MASK
        other = ranges[1 - direction]
        i = bisect_left(other, (acked,))
        return i > 0 and other[i - 1][0] < acked <= other[i - 1][1]


class _LinkInfo(NamedTuple):
    """How one link is captured."""

    side: _Side
    number: int
    inbound: bool  # the link leads into the balancer (or DSR's router)
    byte_time: float  # seconds per byte on the wire
    latency: float
    host: int  # address of the host at the link's other end


class _Side:
    """Everything one capture file needs while the run goes on."""

    __slots__ = (
        "conns",
        "heap",
        "lb_ip",
        "name",
        "path",
        "selected",
        "spool",
        "spool_path",
        "tracks",
    )

    def __init__(self, name: str, directory: Path, variant: str, lb_ip: int) -> None:
        self.name = name
        self.lb_ip = lb_ip
        self.path = directory / f"{variant}-{name}.pcap"
        self.spool_path = directory / f".{variant}-{name}.spool"
        self.spool = open(self.spool_path, "wb")  # noqa: SIM115 - closed in finish()
        self.heap: list[tuple[float, int, bytes]] = []
        self.conns: dict[tuple[int, int, int, int], tuple[_Conn, int]] = {}
        # Index 0 stands for packets of connections whose SYN was never seen.
        self.tracks: list[_Conn | None] = [None]
        self.selected = 0


class VariantCapture:
    """Captures one balancer variant's run into two pcap files.

    Use it as a tap of :func:`lbsim.sim.build_variant` (or let
    :func:`lbsim.capture.run.capture_variant` do the wiring), run the variant, then
    call :meth:`finish`.

    Attributes:
        variant: Balancer variant name.
        limits: What to keep.
        files: Paths of the two capture files.
        packets: Packets written per side (known after :meth:`finish`).
    """

    def __init__(
        self,
        scenario: Scenario,
        variant: str,
        directory: str | Path,
        limits: CaptureLimits | None = None,
    ) -> None:
        """Prepare the capture (the files appear in ``directory`` on :meth:`finish`).

        Args:
            scenario: The scenario being run.
            variant: Name of the balancer variant.
            directory: Directory for the capture files (created if missing).
            limits: What to keep (everything when ``None``).

        Raises:
            KeyError: If the scenario has no such balancer variant.
            ValueError: If the client limit names no client of the scenario.
        """
        balancer = next((b for b in scenario.balancers if b.name == variant), None)
        if balancer is None:
            raise KeyError(f"no balancer named {variant!r}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.variant = variant
        self.limits = limits or CaptureLimits()
        # NAT and DSR forward the client's own packets; an L4 proxy and L7 do not.
        self._forwarding = balancer.layer == 4 and getattr(balancer, "mode", "nat") != "proxy"
        self._hosts = host_addresses(scenario)
        self._clients = (
            None if self.limits.client is None else client_addresses(scenario, self.limits.client)
        )
        self._budget = self.limits.connections
        self._window = self.limits.window
        # Client-side connections kept, as (address, port, ISN), for the backend side
        # of a NAT balancer; ids of the requests kept client connections carried,
        # for the upstream connections of a proxy.
        self._through: set[tuple[int, int, int]] = set()
        self._wanted: set[str] | None = (
            set() if self.limits.by_connection and not self._forwarding else None
        )
        self._sides = (
            _Side("client", directory, variant, VIP),
            _Side("backend", directory, variant, LB_INSIDE),
        )
        self.files = CaptureFiles(self._sides[0].path, self._sides[1].path)
        self.packets: dict[str, int] = {}
        self._links: dict[Link, _LinkInfo] = {}
        self._link_list: list[_LinkInfo] = []
        self._clock: Callable[[], float] | None = None
        self._order = itertools.count()
        self._finished = False

    def add_hosts(self, hosts: dict[str, int]) -> None:
        """Name more far ends of the capture point's links (a topology's neighbours)."""
        self._hosts.update(hosts)

    def bind(self, env: Any) -> None:
        """Read the simulated time from ``env`` (a SimPy environment).

        Without it, the capture reads the environment the links belong to.
        """
        self._clock = lambda: float(env.now)

    # ------------------------------------------------------------------ tap

    def _learn(self, link: Link, seg: Segment) -> _LinkInfo:
        """Which file a link feeds, and which way it crosses the capture point.

        Links are named ``sender>receiver``; the end that is a client host or a
        backend is the host, the other end is the balancer (or, for DSR replies,
        the router), where the capture is taken.
        """
        side = self._sides[0 if link.side == "client" else 1]
        sender, _, receiver = link.name.rpartition(">")
        hosts = self._hosts
        if sender in hosts and receiver not in hosts:
            inbound, host = True, hosts[sender]
        elif receiver in hosts and sender not in hosts:
            inbound, host = False, hosts[receiver]
        else:  # unexpected name: tell by the addresses
            inbound = seg.dst == VIP if side is self._sides[0] else seg.sport == BACKEND_PORT
            host = seg.src if inbound else seg.dst
        info = _LinkInfo(
            side, len(self._link_list), inbound, 8.0 / link.bandwidth, link.latency, host
        )
        self._links[link] = info
        self._link_list.append(info)
        if self._clock is None:
            # A tap is not told the time; the link's environment knows it.
            env = link.env
            self._clock = lambda: float(env.now)
        return info

    def tap(self, link: Link, seg: Segment, t: float, dropped: bool) -> None:
        """Observe one segment offered to ``link`` (the :data:`lbsim.sim.Tap` signature).

        Args:
            link: The link.
            seg: The segment as it is on that link.
            t: When it starts onto the wire (when it was refused, if dropped).
            dropped: Whether the link's queue refused it.
        """
        info = self._links.get(link)
        if info is None:
            info = self._learn(link, seg)
        side = info.side
        src, dst, sport, dport, seq, ack, flags = seg[:7]
        found = side.conns.get((src, sport, dst, dport))
        if flags & SYN and not flags & ACK:
            # A new connection, unless it repeats the SYN of one still opening (a
            # reused 4-tuple gets the same ISN from the simulator's stacks).
            if found is None or found[0].opened or found[0].isn[0] != seq:
                found = self._open(side, seg)
        elif found is not None and not found[1] and flags & ACK:
            found[0].opened = True
        if found is None:
            if dropped or self.limits.by_connection:
                return
            conn_id, direction, offset = 0, 0, _NO_OFFSET
        else:
            conn, direction = found
            if conn.state == _DROP:
                return
            conn_id = conn.id
            isn = conn.isn[direction]
            if isn is None and flags & SYN:
                isn = conn.isn[direction] = seq
            offset = _NO_OFFSET if isn is None else (seq - isn - 1) & SEQ_MASK
            if seg.ends and isn is not None:
                self._marks(conn, direction, offset, seg.ends, side)
            if dropped:
                return
        length = seg.length
        if info.inbound:
            ip_len = length + (48 if seg.mss else 40)
            t = t + wire_bytes(ip_len) * info.byte_time + info.latency
        window = self._window
        if window is not None and not window[0] <= t < window[1]:
            return
        record = _SPOOL.pack(
            t, conn_id, direction, info.number, offset, src, dst, sport, dport, seq, ack, flags,
            seg.window, length, seg.mss, seg.wscale,
        )  # fmt: skip
        heap = side.heap
        heapq.heappush(heap, (t, next(self._order), record))
        assert self._clock is not None
        now = self._clock()
        if heap[0][0] <= now:
            write = side.spool.write
            while heap and heap[0][0] <= now:
                write(heapq.heappop(heap)[2])

    def _open(self, side: _Side, seg: Segment) -> tuple[_Conn, int]:
        """A new connection's first SYN: track it and decide whether to keep it."""
        conn = _Conn(len(side.tracks), seg, self._select(side, seg))
        side.tracks.append(conn)
        side.conns[(seg.src, seg.sport, seg.dst, seg.dport)] = (conn, 0)
        side.conns[(seg.dst, seg.dport, seg.src, seg.sport)] = (conn, 1)
        return conn, 0

    def _select(self, side: _Side, seg: Segment) -> int:
        """Keep, drop, or (a proxy's upstream connection under a limit) decide later."""
        limits = self.limits
        if not limits.by_connection:
            return _KEEP
        if side.name == "client":
            if self._clients is not None and seg.src not in self._clients:
                return _DROP
            if self._budget is not None:
                if side.selected >= self._budget:
                    return _DROP
                side.selected += 1
            self._through.add((seg.src, seg.sport, seg.seq))
            return _KEEP
        if seg.src != LB_INSIDE:
            # Passes through the balancer (NAT): follow the client side's choice.
            return _KEEP if (seg.src, seg.sport, seg.seq) in self._through else _DROP
        # Opened by the proxy and shared by many clients' requests: decided packet
        # by packet once the run shows which exchanges carried kept requests.
        return _PENDING

    def _marks(
        self,
        conn: _Conn,
        direction: int,
        offset: int,
        ends: tuple[tuple[int, Any], ...],
        side: _Side,
    ) -> None:
        """Record the messages ending in a segment (and whether they are wanted)."""
        assert conn.streams is not None
        stream = conn.streams[direction]
        wanted = self._wanted
        for end, message in ends:
            stream.mark(offset + end, message)
            if wanted is None:
                continue
            # A TLS record protects an application message: look inside it.
            inner = getattr(message, "inner", message)
            if side.name == "client":
                request_id = getattr(inner, "request_id", None)
                if direction == 0 and request_id is not None:
                    wanted.add(request_id)
            elif conn.state == _PENDING:
                request = inner if direction == 0 else getattr(inner, "request", None)
                if getattr(request, "request_id", None) in wanted:
                    stop = offset + end
                    span = (max(0, stop - int(getattr(message, "size", 0))), stop)
                    if span not in conn.ranges[direction]:
                        insort(conn.ranges[direction], span)

    # --------------------------------------------------------------- finish

    def finish(self) -> CaptureFiles:
        """Write both capture files (call once, after the run).

        Returns:
            The paths of the client-side and backend-side files.
        """
        if self._finished:
            return self.files
        self._finished = True
        try:
            for side in self._sides:
                write = side.spool.write
                while side.heap:
                    write(heapq.heappop(side.heap)[2])
                side.spool.close()
            for side in self._sides:
                self.packets[side.name] = self._write_pcap(side)
        finally:
            self.discard()
        return self.files

    def discard(self) -> None:
        """Close and delete the spool files (the capture files stay, if written)."""
        for side in self._sides:
            side.spool.close()
            side.spool_path.unlink(missing_ok=True)
            side.tracks = [None]
            side.conns = {}
            side.heap = []

    def _write_pcap(self, side: _Side) -> int:
        """Turn one spool into a pcap file; returns the number of packets."""
        tracks = side.tracks
        middle = mac_for(side.lb_ip)
        # Per link: Ethernet source and destination, and the TTL.
        hops = [
            (mac_for(i.host), middle, 64)
            if i.inbound
            else (middle, mac_for(i.host), 63 if self._forwarding else 64)
            for i in self._link_list
        ]
        size = _SPOOL.size
        with open(side.spool_path, "rb") as spool, open(side.path, "wb") as out:
            writer = PcapWriter(out)
            while chunk := spool.read(size * _CHUNK):
                for record in _SPOOL.iter_unpack(chunk):
                    (t, conn_id, direction, link, offset, src, dst, sport, dport, seq, ack,
                     flags, window, length, mss, wscale) = record  # fmt: skip
                    conn = tracks[conn_id]
                    if (
                        conn is not None
                        and conn.state != _KEEP
                        and (
                            conn.state == _DROP
                            or not conn.wants(direction, flags, offset, length, ack)
                        )
                    ):
                        continue
                    if not length:
                        payload = b""
                    elif conn is None or offset == _NO_OFFSET or conn.streams is None:
                        payload = UNKNOWN.read(0, length)
                    else:
                        payload = conn.streams[direction].read(offset, offset + length)
                    if conn is None:
                        opener_ip, opener_port = src, sport
                    else:
                        opener_ip, opener_port = conn.opener_ip, conn.opener_port
                    ip_id = zlib.crc32(
                        _IP_ID.pack(opener_ip, opener_port, direction, seq, ack, flags, length)
                    )
                    src_mac, dst_mac, ttl = hops[link]
                    frame = tcp_frame(
                        src_mac, dst_mac, src, dst, sport, dport, seq, ack, flags, window,
                        payload, mss=mss, wscale=wscale, ttl=ttl, ip_id=ip_id & 0xFFFF,
                    )  # fmt: skip
                    writer.write(t, frame)
        return writer.packets
