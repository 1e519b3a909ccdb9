"""A layer-4 splicing proxy: two TCP connections per client connection, warm pool.

Theory of operation: in ``proxy`` mode the balancer terminates the client's TCP
connection in its own stack (it still never parses the payload) and splices it to
a connection of its own towards the chosen backend. The backend connection is
taken from a *warm pool* opened ahead of time, so its handshake is off the
client's critical path (concept C4); only when the pool for that backend is empty
does the proxy connect cold. The pair lives and dies together: a FIN or reset on
one side is passed to the other, and the backend connection is not reused by
another client (an L4 proxy cannot know where one client's byte stream could
safely end). With ``refill`` on, every warm connection handed out is replaced.

Bytes are forwarded as they arrive, never held for a request boundary (the proxy
does not know any). Each side has its own MSS, so the stream is re-segmented
(C11): split when the outgoing MSS is smaller, coalesced when it is larger. The
proxy passes the sender's push boundaries on like ``MSG_MORE``: bytes from a
segment without PSH are sent with "more to come", so the outgoing side holds back
only a final partial segment -- at most one outgoing MSS -- until more bytes fill
it or the push arrives. Each side therefore carries ``ceil(bytes / its MSS)``
segments per burst.

The proxy's connections to backends come from its inside address with a finite
range of source ports; a port stays unusable while its connection is in TIME_WAIT,
so new backend connections per second are capped (docs/validation.md: ~470/s with
Linux defaults). A connect that finds no free port fails and the client
connection is reset.

With ``proxy_protocol`` (``v1`` or ``v2``) the proxy tells the backend who the
client is: the first bytes it writes on a backend connection are a PROXY
protocol header naming the client's address and port and the VIP's
(:mod:`lbsim.app.proxy_protocol`), queued as a message of its own when the
client connection is spliced, before any byte of the client's; its bytes are
part of the backend connection's stream, segments and counts. A backend
connection carries one client only, so one header per connection is the whole
truth. Without it the backend sees only the proxy's inside address.

Every backend connection the proxy opens gets a row in ``connections.csv`` when
it closes (or at the end of the run): its ``requests`` are the request ends that
passed through it towards the backend (the proxy does not parse them; the count
comes from the message marks that travel with the bytes, TLS handshake flights
left out).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import simpy

from lbsim.app.proxy_protocol import ProxyHeader
from lbsim.app.tls.messages import TlsHandshake
from lbsim.host.stack import PortsExhausted, TcpStack
from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Wiring, go_silent, record_backend_connection
from lbsim.lb.conntable import ConnectionTable, Entry, EntryState
from lbsim.lb.l7_decisions import client_conn
from lbsim.lb.placement import ConnectionPlacer
from lbsim.net.addresses import (
    BACKEND_PORT,
    BACKEND_TLS_PORT,
    LB_INSIDE,
    VIP,
    VIP_PORT,
    VIP_TLS_PORT,
)
from lbsim.records import Recorder
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection

_OPEN = (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT, TcpState.SYN_SENT, TcpState.SYN_RECEIVED)


class _Leg:
    """One side of a spliced pair; the listener of its TCP connection."""

    __slots__ = ("backend", "closed", "conn", "entry", "other", "proxy", "requests", "warm")

    def __init__(self, proxy: L4Proxy, backend: BackendRef | None) -> None:
        self.proxy = proxy
        self.backend = backend
        self.requests = 0  # request ends passed towards the backend (backend legs)
        self.conn: TcpConnection | None = None
        self.other: _Leg | None = None
        self.entry: Entry | None = None
        self.warm = False
        self.closed = False

    def let_go(self) -> None:
        """The run is over (see ``TcpStack.discard``): drop the other leg and the connection.

        The two legs of a pair refer to each other, a cycle that would otherwise
        wait for the cycle collector with both connections in it.
        """
        self.other = None
        self.conn = None

    def on_established(self, conn: TcpConnection, now: float) -> None:
        if self.backend is not None and self.other is None:
            self.proxy.pool_ready(self, now)  # a warm connection, now usable
        elif self.entry is not None and self.other is None:
            self.proxy.attach(self, now)  # a client connection, now accepted

    def on_data(
        self,
        conn: TcpConnection,
        nbytes: int,
        ends: tuple[tuple[int, Any], ...],
        push: bool,
        now: float,
    ) -> None:
        other = self.other
        if other is not None and other.conn is not None and other.conn.state in _OPEN:
            if ends and other.backend is not None:
                # Request ends only: a passed-through TLS handshake's flights are messages too.
                for _, message in ends:
                    if not isinstance(message, TlsHandshake):
                        other.requests += 1
            other.conn.send_chunk(nbytes, ends, now, more=not push)
            self.proxy.stack.flush(other.conn)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """Messages pass through as bytes; the proxy does not look at them."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        if self.entry is not None:
            self.proxy.table.set_state(self.entry, EntryState.FIN_WAIT)
        other = self.other
        if other is not None and other.conn is not None:
            other.conn.close(now)
            self.proxy.stack.flush(other.conn)
        if self.other is None:
            conn.close(now)  # an idle warm connection closed by its backend

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.proxy.leg_closed(self, now, error)


class L4Proxy(ConnectionPlacer):
    """Layer-4 connection-splicing proxy with warm backend pools.

    Attributes:
        stack: The proxy's TCP stack (VIP on the client side, inside address
            towards backends, with a finite source-port range).
        table: Client connections and the backend each is spliced to.
        idle: Warm, established backend connections per backend name.
        connect_failures: Backend connects that failed for lack of a source port.
        cold_connects: Client connections that found no warm connection.
        warm_hits: Client connections attached to a warm connection.
        proxy_protocol: PROXY protocol version written first on every backend
            connection (``"v1"``, ``"v2"``), or None for none.
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        stack: TcpStack,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
        *,
        table: ConnectionTable,
        warm: int,
        refill: bool,
        recorder: Recorder,
        groups: Collection[str] | None = None,
        vip: int = VIP,
        inside: int = LB_INSIDE,
        proxy_protocol: str | None = None,
    ) -> None:
        super().__init__(backends, algorithm, table, groups)
        self.proxy_protocol = proxy_protocol
        self.env = env
        self.inside = inside
        self.name = name
        self.stack = stack
        self.warm = warm
        self.refill = refill
        self.recorder = recorder
        self.idle: dict[str, list[_Leg]] = {b.name: [] for b in self.backends}
        self.connect_failures = 0
        self.cold_connects = 0
        self.warm_hits = 0
        self.buffered_bytes = 0
        self.client_receive = self.backend_receive = stack.receive
        #: Backend connections not yet recorded, in the order they were opened.
        self.upstreams: dict[_Leg, None] = {}
        self._upstream_ids = 0
        stack.listen(vip, VIP_PORT, self._accept)
        stack.listen(vip, VIP_TLS_PORT, self._accept)  # TLS passes through, unopened
        for backend in self.backends:
            for _ in range(warm):
                self._open_warm(backend)

    @classmethod
    def from_wiring(cls, wiring: Wiring) -> L4Proxy:
        """The splicing proxy a scenario's balancer entry describes, wired in."""
        cfg = wiring.config
        return cls(
            wiring.env,
            cfg.name,
            wiring.terminating_stack(),
            wiring.eligible(),
            wiring.algorithm(4),
            table=wiring.table(),
            warm=cfg.pool.warm,
            refill=cfg.pool.refill,
            recorder=wiring.recorder,
            groups=cfg.groups,
            vip=wiring.vip,
            inside=wiring.inside,
            proxy_protocol=cfg.proxy_protocol,
        )

    # ------------------------------------------------------------ interface

    def discard(self) -> None:
        """Drop the warm pools and the backend connections not yet recorded, too."""
        super().discard()
        for legs in self.idle.values():
            legs.clear()
        for leg in self.upstreams:
            leg.let_go()
        self.upstreams.clear()

    def stacks(self) -> list[TcpStack]:
        """The proxy's one stack (both sides)."""
        return [self.stack]

    def health_stack(self) -> TcpStack:
        """Probes leave from the proxy's own stack."""
        return self.stack

    def counters(self) -> dict[str, float]:
        """Table counters, and how backend connections were obtained."""
        out = super().counters()
        out["lb.connect_failures"] = self.connect_failures
        out["lb.cold_connects"] = self.cold_connects
        out["lb.warm_hits"] = self.warm_hits
        return out

    def finalize(self, now: float) -> None:
        """End of run: record the backend connections still open."""
        for leg in list(self.upstreams):
            self._record(leg, None)

    def _record(self, leg: _Leg, error: str | None) -> None:
        """Write the row of backend connection ``leg`` (once)."""
        if leg not in self.upstreams:
            return
        del self.upstreams[leg]
        if leg.conn is not None and leg.backend is not None:
            record_backend_connection(self.recorder, leg.conn, leg.backend, leg.requests, error)

    # ------------------------------------------------------------ the pool

    def _connect(self, leg: _Leg, backend: BackendRef, port: int = BACKEND_PORT) -> bool:
        try:
            leg.conn = self.stack.connect(self.inside, backend.ip, port, leg)
        except PortsExhausted:
            self.connect_failures += 1
            return False
        self._upstream_ids += 1
        leg.conn.user = f"{self.name}-up{self._upstream_ids}"
        leg.conn.stream_data = True
        self.upstreams[leg] = None
        return True

    def _open_warm(self, backend: BackendRef) -> None:
        leg = _Leg(self, backend)
        leg.warm = True
        self._connect(leg, backend)

    def pool_ready(self, leg: _Leg, now: float) -> None:
        """A warm connection finished its handshake: it may now be handed out."""
        assert leg.backend is not None
        self.idle[leg.backend.name].append(leg)

    # ----------------------------------------------------- client connections

    def _accept(self, conn: TcpConnection) -> _Leg | None:
        """A SYN for the VIP: take it into the table, or refuse it (None: RST).

        Like a real proxy, the balancer does nothing towards a backend until the
        client's handshake has completed (``accept()`` returns): see :meth:`attach`.
        """
        entry = self.table.open(conn.remote_ip, conn.remote_port, None, self.env.now)
        if entry is None:
            return None
        client = _Leg(self, None)
        client.conn = conn
        client.entry = entry
        conn.stream_data = True
        return client

    def attach(self, client: _Leg, now: float) -> None:
        """An accepted client connection: place it and splice it to a backend connection.

        A warm connection is used if the chosen backend has one idle (no backend
        handshake on the client's critical path); otherwise the proxy connects cold,
        and the client's first bytes wait in the new connection until it is up.
        """
        conn, entry = client.conn, client.entry
        assert conn is not None and entry is not None
        candidates = self.usable_backends()
        if not candidates:
            self.table.remove(entry)
            conn.abort(now)  # nowhere to send it
            return
        backend = self.algorithm.pick(
            candidates, now, self.placement_key(conn.remote_ip, conn.remote_port)
        )
        entry.backend = backend
        self.table.set_state(entry, EntryState.ESTABLISHED)
        # TLS arrives on the VIP's port 443, or on 8443 behind a tier in front.
        tls = conn.local_port in (VIP_TLS_PORT, BACKEND_TLS_PORT)
        pool = [] if tls else self.idle[backend.name]  # warm connections go to 8080
        header = {} if self.proxy_protocol is None else {"proxy_protocol": self.proxy_protocol}
        self.recorder.decide(
            now, self.name, "proxy_pick", connection=client_conn(conn), backend=backend.name,
            algorithm=self.algorithm.name, candidates=len(candidates), warm=int(bool(pool)),
            **header,
        )  # fmt: skip
        if pool:
            upstream = pool.pop()
            self.warm_hits += 1
            if self.refill:
                self._open_warm(backend)
        else:
            upstream = _Leg(self, backend)
            self.cold_connects += 1
            port = BACKEND_TLS_PORT if tls else BACKEND_PORT
            if not self._connect(upstream, backend, port):
                # No source port for the backend side: reset the client connection.
                self.table.remove(entry)
                conn.abort(now)
                return
        upstream.other, client.other = client, upstream
        if self.proxy_protocol is not None:
            self._send_proxy_header(upstream, conn, now)
        upstream.entry = entry
        backend.active += 1
        self.placements[(conn.remote_ip, conn.remote_port)] = backend.name

    def _send_proxy_header(self, upstream: _Leg, client: TcpConnection, now: float) -> None:
        """Queue the PROXY header on ``upstream``: the first bytes the backend gets.

        Written as soon as the pair is spliced, like HAProxy's ``send-proxy``:
        on a warm connection it leaves at once, in a segment of its own; on a
        connection still in its handshake it waits in the send queue and goes
        out when the handshake completes, sharing a segment with any bytes of
        the client's queued behind it meanwhile.
        """
        assert upstream.conn is not None
        header = ProxyHeader(
            "v2" if self.proxy_protocol == "v2" else "v1",
            client.remote_ip, client.local_ip, client.remote_port, client.local_port,
        )  # fmt: skip
        upstream.conn.send_chunk(header.size, ((header.size, header),), now)
        self.stack.flush(upstream.conn)

    def leg_closed(self, leg: _Leg, now: float, error: str | None) -> None:
        """One side of a pair (or an unused warm connection) is gone.

        An error on one side resets the other. The table entry stays (in
        TIME_WAIT once one side closed cleanly) until both sides are closed.
        """
        leg.closed = True
        if leg.backend is not None:
            self._record(leg, error)
        other = leg.other
        if other is None:
            if leg.backend is not None and leg in self.idle[leg.backend.name]:
                self.idle[leg.backend.name].remove(leg)  # a warm connection died unused
            return
        if error is not None and other.conn is not None and other.conn.state is not TcpState.CLOSED:
            other.conn.abort(now)
            self.stack.flush(other.conn)
        if other.closed:
            # Both sides are gone: unlinked (their connections let go of them when
            # flushed), the pair is freed by reference counting.
            leg.other = other.other = None
        entry = leg.entry
        if entry is None or not self.table.contains(entry):
            return
        if other.closed:
            entry.backend.active -= 1
            self.table.remove(entry)
        elif error is None:
            self.table.set_state(entry, EntryState.TIME_WAIT)

    # ------------------------------------------------------- backends, faults

    def add_backend(self, backend: BackendRef) -> bool:
        """Scale out: a new backend, with its own warm pool."""
        self.stack.add_route(backend.ip, backend.link, backend.mss)
        if not super().add_backend(backend):
            return False
        self.idle[backend.name] = []
        for _ in range(self.warm):
            self._open_warm(backend)
        return True

    def restart(self, now: float, downtime: float) -> None:
        """The proxy restarts: every TCP connection it held is lost without a word.

        Clients' later segments find no connection and are answered with RST.
        """
        self.stack.forget_all()
        self.upstreams.clear()  # lost with the stack, like the L7 proxy's
        for entry in list(self.table):
            if entry.backend is not None:
                entry.backend.active = 0
            self.table.remove(entry)
        for pool in self.idle.values():
            pool.clear()
        for backend in self.backends:
            for _ in range(self.warm):
                self._open_warm(backend)
        go_silent(self.env, self.stack, now, downtime)
