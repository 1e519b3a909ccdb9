"""Channels: how an application sends messages on a connection, with or without TLS.

Theory of operation: an application (a client session, a backend, a balancer)
sends whole messages. On a plain connection a message goes straight into the TCP
byte stream. On a TLS connection, :class:`TlsChannel` sits between TCP and the
application: it runs the sans-IO :class:`~lbsim.app.tls.TlsEndpoint` (handshake
flights, tickets), wraps each application message into encrypted records and
unwraps received ones, and charges the CPU the cryptography costs to whoever
terminates TLS there -- the balancer's or a backend's cores, which makes
handshakes queue under load (concept C20), or the client's own CPU, which is
never contended. The application sees the same callbacks as on a plain
connection, only later: ``on_established`` once the TLS handshake (not just the
TCP one) is done, ``on_message`` with the decrypted message.

Work that costs CPU leaves when that work is done; a channel never lets a later
message overtake an earlier one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from lbsim.app.proxy_protocol import ProxyHeader
from lbsim.app.tls import Ticket, TlsData, TlsEndpoint, TlsHandshake
from lbsim.host.stack import DETACHED
from lbsim.sched import call_at
from lbsim.transport.states import SENDABLE as _SENDABLE
from lbsim.transport.tcp import TcpConnection, TcpListener

if TYPE_CHECKING:
    from lbsim.host.cpu import Cpu
    from lbsim.host.stack import TcpStack


class PlainChannel:
    """Messages go into the TCP stream as they are."""

    __slots__ = ("conn", "stack")

    tls = False
    up = True  # nothing to negotiate beyond TCP

    def __init__(self, conn: TcpConnection, stack: TcpStack) -> None:
        self.conn = conn
        self.stack = stack

    def send(self, message: Any, now: float) -> None:
        """Queue ``message`` (``message.size`` bytes) on the connection."""
        conn = self.conn
        if conn.state in _SENDABLE:
            conn.send(message.size, message, now)
            self.stack.flush(conn)

    def relay(self, nbytes: int, ends: Any, more: bool, now: float) -> None:
        """Pass on bytes of a stream relayed from elsewhere, marks and all."""
        conn = self.conn
        if conn.state in _SENDABLE:
            conn.send_chunk(nbytes, ends, now, more=more)
            self.stack.flush(conn)

    def then(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once everything sent so far is on the connection (now)."""
        fn()


class TlsChannel:
    """TLS between a TCP connection and an application listener.

    Attributes:
        endpoint: The TLS state machine of this end.
        app: The application's listener (it never sees TLS messages).
        up: The TLS handshake has completed.
        handshake_cpu: CPU seconds spent on handshakes here.
    """

    tls = True

    def __init__(
        self,
        env: simpy.Environment,
        endpoint: TlsEndpoint,
        app: TcpListener,
        stack: TcpStack,
        *,
        cpu: Cpu | None = None,
        on_ticket: Callable[[Ticket | None], None] | None = None,
        stats: dict[str, float] | None = None,
    ) -> None:
        self.env = env
        self.endpoint = endpoint
        self.app = app
        self.stack = stack
        self.cpu = cpu
        self.on_ticket = on_ticket
        self.stats = stats  # handshakes, resumed, handshake_cpu of whoever terminates here
        self.conn: TcpConnection | None = None
        self.up = False
        self._pending: list[Any] = []  # application messages sent before the handshake ended
        self._ready = 0.0  # when the last queued work finishes: keeps sends in order
        self._queued = 0  # calls scheduled by _at and not run yet
        self._closed = False  # the connection is gone (on_closed passed on)

    # ---------------------------------------------------------------- costs

    def _done_at(self, now: float, cost: float) -> float:
        """When work of ``cost`` seconds, started now, is done (never before earlier work)."""
        if cost <= 0:
            done = now
        elif self.cpu is not None:
            done = self.cpu.run(now, cost)
        else:
            done = now + cost  # a client's own CPU: never contended
        if done < self._ready:
            done = self._ready
        self._ready = done
        return done

    def _at(self, when: float, fn: Callable[..., None], *args: Any) -> None:
        if when <= self.env.now:
            fn(*args)
        else:
            self._queued += 1
            call_at(self.env, when, self._queued_call, fn, args)

    def _queued_call(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._queued -= 1
        fn(*args)
        if self._closed and not self._queued:
            self.let_go()

    def let_go(self) -> None:
        """The connection is gone and no work is queued: drop the application.

        The application (a client session, the proxy's side of a connection) holds
        this channel, so the two would otherwise stay a reference cycle, left to the
        cycle collector, after both are done with (as a connection and its
        listener would: see :meth:`lbsim.host.stack.TcpStack.flush`).
        """
        self.app = DETACHED

    # ------------------------------------------------------------- sending

    def send(self, message: Any, now: float) -> None:
        """Encrypt and queue an application message (held until the handshake ends)."""
        if not self.up:
            self._pending.append(message)
            return
        data = self.endpoint.wrap(message)
        self._at(self._done_at(now, self.endpoint.encrypt_cost(data)), self._write, data)

    def relay(self, nbytes: int, ends: Any, more: bool, now: float) -> None:
        """Pass on relayed bytes as encrypted records (a streamed response).

        The bytes go out as they come; each message ending in them is sealed into
        records, whose overhead is added where it ends.
        """
        extra = 0
        sealed = []
        for off, message in ends:
            data = self.endpoint.wrap(message)
            extra += data.size - message.size
            sealed.append((off + extra, data))
        total = nbytes + extra
        cost = self.endpoint.costs.per_byte * total
        self._at(self._done_at(now, cost), self._write_chunk, total, tuple(sealed), more)

    def _write_chunk(self, nbytes: int, ends: Any, more: bool) -> None:
        conn = self.conn
        if conn is not None and conn.state in _SENDABLE:
            conn.send_chunk(nbytes, ends, self.env.now, more=more)
            self.stack.flush(conn)

    def then(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once all the work queued so far (and its sending) is done."""
        self._at(self._ready, fn)

    def _write(self, message: TlsData | TlsHandshake) -> None:
        conn = self.conn
        if conn is not None and conn.state in _SENDABLE:
            conn.send(message.size, message, self.env.now)
            self.stack.flush(conn)

    def _flights(self, flights: tuple[TlsHandshake, ...]) -> None:
        for flight in flights:
            self._write(flight)

    # --------------------------------------------------------- TcpListener

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """TCP is up: a client starts the TLS handshake."""
        self.conn = conn
        if self.endpoint.role == "client":
            step = self.endpoint.start(now)
            self._at(self._done_at(now, step.cpu), self._flights, step.send)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """A TLS flight or record arrived: run the state machine, pay its CPU.

        A PROXY protocol header ahead of the ClientHello is not TLS: it goes to
        the application as it is (the server learns the client's address from it).
        """
        self.conn = conn
        if isinstance(message, ProxyHeader):
            self.app.on_message(conn, message, first_byte, now)
            return
        step = self.endpoint.receive(message, now)
        self._at(self._done_at(now, step.cpu), self._after, step, first_byte)

    def _after(self, step: Any, first_byte: float) -> None:
        now = self.env.now
        conn = self.conn
        assert conn is not None
        self._flights(step.send)
        endpoint = self.endpoint
        if self.on_ticket is not None:
            if step.established and endpoint.offered is not None and not endpoint.resumed:
                self.on_ticket(None)  # the ticket offered was refused: forget it...
            if step.ticket is not None:
                self.on_ticket(step.ticket)  # ...unless a new one came with this step
        if step.established and not self.up:
            self.up = True
            self.handshake_done(conn, now)
        if step.app is not None:
            self.app.on_message(conn, step.app, first_byte, now)

    def handshake_done(self, conn: TcpConnection, now: float) -> None:
        """The handshake ended: tell the application, send what it queued meanwhile."""
        stats = self.stats
        if stats is not None:
            stats["handshakes"] = stats.get("handshakes", 0) + 1
            stats["resumed"] = stats.get("resumed", 0) + self.endpoint.resumed
            stats["handshake_cpu"] = stats.get("handshake_cpu", 0.0) + self.handshake_cpu
        self.app.on_established(conn, now)
        pending, self._pending = self._pending, []
        for message in pending:
            self.send(message, now)

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Bytes after the handshake go to the application, with its own messages marked.

        A record's end marks the (decrypted) message inside it; a late handshake
        message (a session ticket) is no message of the application's.
        """
        if self.up:
            if ends:
                ends = tuple((off, m.inner) for off, m in ends if isinstance(m, TlsData))
            self.app.on_data(conn, nbytes, ends, push, now)

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """Pass the peer's FIN on to the application."""
        self.app.on_peer_fin(conn, now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """Pass the connection's close (and its error, if any) on to the application.

        Work still queued (a record being decrypted) reaches the application as
        before; the channel lets go of it after that (:meth:`let_go`).
        """
        self.app.on_closed(conn, now, error)
        self._closed = True
        if not self._queued:
            self.let_go()

    @property
    def handshake_cpu(self) -> float:
        """CPU seconds this end spent on handshakes."""
        return float(self.endpoint.handshake_cpu)
