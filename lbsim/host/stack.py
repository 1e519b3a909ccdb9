"""A host's TCP stack: demultiplexing, transmission, timers and ports.

Theory of operation: this is the thin SimPy wiring around the sans-IO
:class:`~lbsim.transport.tcp.TcpConnection`. A stack owns a table of connections
keyed by ``(local ip, local port, remote ip, remote port)``. A segment arriving
from a link is handed to its connection (or, for a SYN to a listening port, to a
new passive connection; anything else unknown is answered with RST, as a real
host does). After every call into a connection the stack *drains* the segments it
produced onto the outgoing link, and arms a timer if the connection's deadline
moved earlier. Timers are lazy: one pending event per connection, which on firing
re-arms itself if the deadline has since moved later (RTO restarts on every ACK, so
this avoids one event per ACK).

A stack may be charged CPU per segment (balancers): received segments add to the
CPU's work, and a segment to send leaves when its job finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from lbsim.net.addresses import EPHEMERAL_PORTS
from lbsim.net.segment import ACK, RST, SEQ_MASK, SYN, Segment
from lbsim.sched import call_at
from lbsim.streams import mix_ints
from lbsim.transport.states import CLOSED
from lbsim.transport.tcp import INF, TcpConnection, TcpListener, TcpParams

if TYPE_CHECKING:
    from lbsim.host.cpu import Cpu
    from lbsim.net.link import Link

Key = tuple[int, int, int, int]
#: Makes the passive connection's application object for a new incoming SYN, or
#: returns None to refuse the connection (answered with RST).
AcceptFn = Callable[[TcpConnection], TcpListener | None]


class PortsExhausted(Exception):
    """No ephemeral port is free for a new connection to that destination."""


class _Detached:
    """The listener of a connection that has left its stack: it ignores everything."""

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Ignored."""

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """Ignored."""

    def on_data(
        self, conn: TcpConnection, nbytes: int, ends: tuple[tuple[int, Any], ...], push: bool,
        now: float,
    ) -> None:  # fmt: skip
        """Ignored."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """Ignored."""

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """Ignored."""


#: Stands in for the listener of every connection that is gone (see :meth:`TcpStack.flush`).
DETACHED: TcpListener = _Detached()


class TcpStack:
    """TCP for one host (one or more local addresses).

    The class of its connections is :attr:`connection_class` (a request-level
    stack, :mod:`lbsim.host.message_stack`, makes carrier-sending ones).

    Attributes:
        name: Host name for messages.
        conns: Live connections by key (TIME_WAIT ones included).
        uplink: The only outgoing link, for single-homed hosts.
        routes: Outgoing link by destination address, for multi-homed hosts.
        mss_by_peer: The MSS this host offers on the interface towards a peer, where
            it differs from ``mss`` (a balancer between two MTUs); used for
            connections opened and accepted alike.
        cpu: Charged ``segment_cost`` per segment received and sent, if set.
        resets_sent: RSTs sent for segments that matched no connection.
        peak_conns: Largest number of connections held at once.
    """

    #: What :meth:`connect` and an accepted SYN make.
    connection_class: type[TcpConnection] = TcpConnection

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        params: TcpParams,
        *,
        mss: int,
        salt: int = 0,
        uplink: Link | None = None,
        routes: dict[int, Link] | None = None,
        cpu: Cpu | None = None,
        segment_cost: float = 0.0,
        port_range: tuple[int, int] = EPHEMERAL_PORTS,
        port_salt: int | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.params = params
        self.mss = mss
        self.mss_by_peer: dict[int, int] = {}
        self.salt = salt
        self.uplink = uplink
        self.routes = routes if routes is not None else {}
        self.cpu = cpu
        self.segment_cost = segment_cost
        self.conns: dict[Key, TcpConnection] = {}
        self.listening: dict[tuple[int, int], AcceptFn] = {}
        self._port_range = port_range
        self._next_port: dict[int, int] = {}
        self._port_salt = port_salt
        # Ephemeral ports taken per (local ip, remote ip, remote port), TIME_WAIT
        # included: tells "exhausted" at once instead of scanning the range.
        self._ports_used: dict[tuple[int, int, int], int] = {}
        self.resets_sent = 0
        self.peak_conns = 0
        #: Retransmissions and bytes of connections already closed (see :meth:`totals`).
        self._closed_totals = [0, 0, 0]
        #: The host refuses every connection (RST), e.g. a crashed server process.
        self.refusing = False
        #: The host has vanished: it receives and sends nothing.
        self.silent = False
        self.on_close: Callable[[TcpConnection], None] | None = None

    def add_route(self, ip: int, link: Link, mss: int | None = None) -> None:
        """Reach ``ip`` over ``link``, offering ``mss`` on it (default: :attr:`mss`)."""
        self.routes[ip] = link
        if mss is not None:
            self.mss_by_peer[ip] = mss

    # ----------------------------------------------------------- connections

    def listen(self, ip: int, port: int, accept: AcceptFn) -> None:
        """Accept connections to ``ip:port``; ``accept`` makes each one's listener."""
        self.listening[(ip, port)] = accept

    def _isn(self, key: Key) -> int:
        """Initial sequence number, as RFC 6528 builds it.

        A clock ticking every 4 us plus a keyed hash of the 4-tuple, so a reused
        4-tuple starts elsewhere.
        """
        clock = int(self.env.now * 250_000)
        return (clock + mix_ints(self.salt, *key)) & SEQ_MASK

    def _new_connection(self, key: Key, listener: TcpListener, passive: bool) -> TcpConnection:
        """A new connection of :attr:`connection_class`, offering the MSS of the way to the peer.

        ``key`` is its local address and port, then the remote ones.
        """
        local_ip, local_port, remote_ip, remote_port = key
        return self.connection_class(
            local_ip,
            local_port,
            remote_ip,
            remote_port,
            mss=self.mss_by_peer.get(remote_ip, self.mss),
            isn=self._isn(key),
            listener=listener,
            params=self.params,
            passive=passive,
        )

    def allocate_port(self, local_ip: int, remote_ip: int, remote_port: int) -> int:
        """Next free ephemeral port towards ``remote_ip:remote_port``.

        Ports are handed out in rotation (as Linux does), skipping any whose
        4-tuple is still in the table, TIME_WAIT included.

        Raises:
            PortsExhausted: If every port in the range is taken.
        """
        low, high = self._port_range
        span = high - low + 1
        if self._ports_used.get((local_ip, remote_ip, remote_port), 0) >= span:
            raise PortsExhausted(f"{self.name}: no free port towards {remote_ip}:{remote_port}")
        port = self._next_port.get(local_ip)
        if port is None:
            port = low
            if self._port_salt is not None:
                # Start the rotation at a keyed-hash offset of the range, as RFC
                # 6056 (section 3.3.3) does, so two hosts do not both begin at the
                # bottom of the range: a proxy's first port is not its client's.
                port += mix_ints(self._port_salt, local_ip) % span
        conns = self.conns
        for _ in range(span):
            key = (local_ip, port, remote_ip, remote_port)
            nxt = port + 1 if port < high else low
            if key not in conns:
                self._next_port[local_ip] = nxt
                return port
            port = nxt
        raise PortsExhausted(f"{self.name}: no free port towards {remote_ip}:{remote_port}")

    def connect(
        self,
        local_ip: int,
        remote_ip: int,
        remote_port: int,
        listener: TcpListener,
    ) -> TcpConnection:
        """Open a connection (sends the SYN now), offering the MSS of the way to the peer.

        Raises:
            PortsExhausted: If no source port is free.
        """
        port = self.allocate_port(local_ip, remote_ip, remote_port)
        key = (local_ip, port, remote_ip, remote_port)
        conn = self._new_connection(key, listener, False)
        conns = self.conns
        conns[key] = conn
        dest = (local_ip, remote_ip, remote_port)
        self._ports_used[dest] = self._ports_used.get(dest, 0) + 1
        held = len(conns)
        if held > self.peak_conns:
            self.peak_conns = held
        conn.connect(self.env.now)
        self.flush(conn)
        return conn

    # --------------------------------------------------------------- receive

    def receive(self, seg: Segment, now: float) -> None:
        """Entry point for segments delivered by a link at time ``now``."""
        if self.silent:
            return
        # Indexing a segment is cheaper than reading its fields by name.
        conn = self.conns.get((seg[1], seg[3], seg[0], seg[2]))  # dst, dport, src, sport
        if conn is None:
            conn = self._incoming(seg, (seg.dst, seg.dport, seg.src, seg.sport))
            if conn is None:
                if self.cpu is not None:
                    self.cpu.run(now, self.segment_cost)
                return
        conn.receive(seg, now)
        if self.cpu is not None:
            # Receiving was one job; the reply segments are charged with it.
            self.flush(conn, 1, now)
        elif conn.out or conn.deadline < conn.timer_at or conn.state is CLOSED:
            self.flush(conn)

    def _incoming(self, seg: Segment, key: Key) -> TcpConnection | None:
        flags = seg.flags
        accept = None if self.refusing else self.listening.get((seg.dst, seg.dport))
        if accept is not None and flags & SYN and not flags & ACK:
            conn = self._new_connection(key, _PENDING, True)
            listener = accept(conn)
            if listener is None:
                self._reset(seg)
                return None
            conn.listener = listener
            self.conns[key] = conn
            held = len(self.conns)
            if held > self.peak_conns:
                self.peak_conns = held
            return conn
        if not flags & RST:
            self._reset(seg)
        return None

    def _reset(self, seg: Segment) -> None:
        """Answer a segment that has no connection with RST (RFC 9293 3.10.7.1)."""
        if seg.flags & ACK:
            rst = Segment(seg.dst, seg.src, seg.dport, seg.sport, seg.ack, 0, RST, 0, 0)
        else:
            ack = (seg.seq + seg.seq_space) & SEQ_MASK
            rst = Segment(seg.dst, seg.src, seg.dport, seg.sport, 0, ack, RST | ACK, 0, 0)
        self.resets_sent += 1
        self.transmit(rst)

    # -------------------------------------------------------------- transmit

    def transmit(self, seg: Segment) -> None:
        """Put one segment on the link towards its destination."""
        if self.silent:
            return
        link = self.uplink or self.routes[seg.dst]
        if self.cpu is not None:
            link.send(seg, self.cpu.run(self.env.now, self.segment_cost))
        else:
            link.send(seg)

    def flush(self, conn: TcpConnection, received: int = 0, now: float | None = None) -> None:
        """Send what ``conn`` produced, arm its timer, forget it once closed.

        Sending never calls back into TCP (delivery is a later event), so the
        output list can be walked and then cleared in place. On a stack that pays
        CPU per segment, the ``received`` segments just processed and every segment
        sent are jobs of ``segment_cost`` run back to back: the k-th segment sent is
        ready ``(received + k) * cost`` of CPU time after the batch starts.
        """
        out = conn.out
        if self.silent:
            out.clear()  # a vanished host sends nothing
        cpu = self.cpu
        if cpu is not None:
            cost = self.segment_cost
            done = cpu.run(self.env.now if now is None else now, cost * (received + len(out)))
            if out:
                link = self.uplink or self.routes[conn.remote_ip]
                ready = done - cost * len(out)
                for seg in out:
                    ready += cost
                    link.send(seg, ready)
                out.clear()
        elif out:
            link = self.uplink or self.routes[conn.remote_ip]
            for seg in out:
                link.send(seg)
            out.clear()
        if conn.state is CLOSED:
            self.after_flush(conn)
            return
        # The rest of self.after_flush, inlined (one call less per segment).
        deadline = conn.deadline
        if deadline < conn.timer_at:
            conn.timer_at = deadline
            call_at(self.env, deadline, self._timer, conn, deadline)

    def after_flush(self, conn: TcpConnection) -> None:
        """Forget ``conn`` once closed, else arm its timer if its deadline moved earlier."""
        if conn.state is CLOSED:
            key = (conn.local_ip, conn.local_port, conn.remote_ip, conn.remote_port)
            if self.conns.get(key) is conn:
                del self.conns[key]
                totals = self._closed_totals
                totals[0] += conn.retransmissions
                totals[1] += conn.bytes_sent
                totals[2] += conn.bytes_received
                if not conn.passive:
                    self._ports_used[(conn.local_ip, conn.remote_ip, conn.remote_port)] -= 1
                if self.on_close is not None:
                    self.on_close(conn)
                # The application object and the connection usually refer to each
                # other (a session keeps its connection, the connection its
                # listener): cutting the link here lets reference counting free both,
                # with every message still marked on the connection, as soon as the
                # application drops it, instead of leaving the pair to the cycle
                # collector (which, run rarely in long runs, let memory grow).
                conn.listener = DETACHED
            return
        deadline = conn.deadline
        if deadline < conn.timer_at:
            conn.timer_at = deadline
            call_at(self.env, deadline, self._timer, conn, deadline)

    def totals(self) -> tuple[int, int, int]:
        """Retransmissions, stream bytes sent and stream bytes received, all connections."""
        r, s, v = self._closed_totals
        for conn in self.conns.values():
            r += conn.retransmissions
            s += conn.bytes_sent
            v += conn.bytes_received
        return r, s, v

    def discard(self) -> None:
        """The run is over: forget every connection, so reference counting frees them.

        A connection and its application object refer to each other, which only
        the cycle collector could otherwise undo, and slowly: one collection over a
        finished run's connections walks objects scattered across memory, about
        1.5 us each. Cutting each connection's listener (as :meth:`after_flush`
        does for a closed one) and emptying the table frees them at once. The
        stack must not be used afterwards. A listener that stands between the
        connection and an application (a TLS channel) is told to let go of it too
        (its ``let_go``), ending that cycle as well.
        """
        for conn in self.conns.values():
            listener = conn.listener
            conn.listener = DETACHED
            let_go = getattr(listener, "let_go", None)
            if let_go is not None:
                let_go()
        self.conns.clear()
        self.listening.clear()

    def reset_all(self) -> None:
        """Reset every connection (RST to each peer), as when a process dies."""
        now = self.env.now
        for conn in list(self.conns.values()):
            conn.abort(now)
            self.flush(conn)

    def forget_all(self) -> None:
        """Lose every connection without a word, as a host that lost its state."""
        for conn in list(self.conns.values()):
            conn.out.clear()
            conn.timer_at = INF
        self.conns.clear()
        self._ports_used.clear()

    def _timer(self, conn: TcpConnection, armed_for: float) -> None:
        if conn.timer_at != armed_for:
            return  # superseded by an earlier timer
        conn.timer_at = INF
        if conn.state is CLOSED:
            return
        now = self.env.now
        if conn.deadline <= now:
            conn.on_timer(now)
        self.flush(conn)


class _Pending:
    """Placeholder listener while the application object is being made."""

    def on_established(self, conn: TcpConnection, now: float) -> None:  # pragma: no cover
        pass

    def on_message(self, conn: TcpConnection, message: object, first: float, now: float) -> None:
        pass  # pragma: no cover

    def on_data(  # pragma: no cover
        self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float
    ) -> None:
        pass

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:  # pragma: no cover
        pass

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        pass  # pragma: no cover


_PENDING = _Pending()
