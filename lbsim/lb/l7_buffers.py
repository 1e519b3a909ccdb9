"""Layer-7 request buffering: client connections, bytes held in memory, limits.

Theory of operation: the layer-7 proxy's application on each client connection is
a :class:`ClientSide`. Request bytes arriving on it are held in the balancer's
memory until the request is complete (concept C16); ``buffered_bytes`` counts
everything held, requests and responses, and ``peak_buffer`` its maximum. Limits
act while bytes arrive: a request growing past ``max_request`` is answered 413,
one that would push the memory held past ``max_buffer`` 503, one still
incomplete ``request_timeout`` after its first byte 408; the connection is then
reset, shielding the backends from it. Bytes leave memory when the request is
written to a backend (:meth:`RequestBuffers.unhold`) or its connection is gone.

Behind a layer-4 proxy tier that writes a PROXY protocol header, the header is the
connection's first message: :class:`ClientSide` keeps the client address it names
(``peer_ip``) and the proxy passes that address on in ``X-Forwarded-For``, as
HAProxy's ``accept-proxy`` and Envoy's proxy-protocol listener filter do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import simpy

from lbsim.app.http import ERROR_RESPONSE_SIZE, HttpResponse
from lbsim.host.channel import PlainChannel, TlsChannel
from lbsim.host.stack import TcpStack
from lbsim.lb.l7_config import Limits
from lbsim.lb.l7_requests import request_arrived
from lbsim.sched import call_at
from lbsim.transport.states import SENDABLE as _SENDABLE
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection

if TYPE_CHECKING:
    from lbsim.lb.l7 import L7Balancer


class ClientSide:
    """The proxy's application on one client connection."""

    __slots__ = (
        "channel",
        "closing",
        "conn",
        "dead",
        "held",
        "in_flight",
        "lb",
        "partial",
        "peer_ip",
        "request_no",
        "started",
    )

    def __init__(self, lb: L7Balancer, conn: TcpConnection) -> None:
        self.lb = lb
        self.conn = conn
        self.in_flight = 0  # requests received and not yet answered (several if multiplexed)
        self.closing = False
        self.dead = False  # refused by a limit: the rest of its bytes are discarded
        self.held = 0  # bytes of this connection held in the balancer's memory
        self.partial = 0  # bytes of the request currently arriving
        self.started = 0.0  # when that request's first byte came
        self.request_no = 0  # counts requests begun, for the read timeout
        self.peer_ip = conn.remote_ip  # the client's address (a PROXY header may name it)
        self.channel: PlainChannel | TlsChannel = PlainChannel(conn, lb.stack)
        conn.stream_data = True

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Nothing to do: the client's request is what starts the work."""

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Request bytes arrived in order: hold them in the proxy's memory, watch the limits."""
        if self.dead:
            return
        lb = self.lb
        limits = lb.limits
        if limits.max_buffer is not None and lb.buffered_bytes + nbytes > limits.max_buffer:
            lb._refuse_early(self, 503, now)
            return
        self.held += nbytes  # hold them
        held = lb.buffered_bytes = lb.buffered_bytes + nbytes
        if held > lb.peak_buffer:
            lb.peak_buffer = held
        consumed = 0
        if ends:
            # Requests ending here are complete (on_message follows); only the bytes
            # after the last end belong to a request still arriving.
            self.partial = 0
            consumed = ends[-1][0]
        rest = nbytes - consumed
        if rest > 0:
            if self.partial == 0:
                lb._begin_request(self, now)
            self.partial += rest
            if limits.max_request is not None and self.partial > limits.max_request:
                lb._refuse_early(self, 413, now)

    #: A whole request arrived: count it in flight and parse it (the request path
    #: starts here, see :mod:`lbsim.lb.l7_requests`).
    on_message = request_arrived

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """Close now, or once the requests in flight are answered."""
        if self.in_flight:
            self.closing = True
        else:
            conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """Forget the client connection and release the bytes it still held."""
        lb = self.lb
        lb.buffered_bytes -= self.held  # lb.release_held(self), written out
        self.held = 0


class RequestBuffers:
    """The buffering half of :class:`~lbsim.lb.l7.L7Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what buffering uses of the proxy (declared for type checking only)
        env: simpy.Environment
        name: str
        stack: TcpStack
        limits: Limits
        buffered_bytes: int
        peak_buffer: int
        local_answers: dict[int, int]

    # -------------------------------------------------------------- buffers

    def unhold(self, client: ClientSide, nbytes: int) -> None:
        """``nbytes`` of ``client``'s requests left the balancer's memory."""
        if nbytes > client.held:
            nbytes = client.held
        client.held -= nbytes
        self.buffered_bytes -= nbytes

    def release_held(self, client: ClientSide) -> None:
        """Forget everything held for a connection that is gone."""
        self.buffered_bytes -= client.held
        client.held = 0

    def buffer(self, delta: int) -> None:
        """Account response bytes held (positive) or released (negative)."""
        held = self.buffered_bytes = self.buffered_bytes + delta
        if held > self.peak_buffer:
            self.peak_buffer = held

    # ----------------------------------------------------- request arrival

    def _begin_request(self, client: ClientSide, now: float) -> None:
        client.started = now
        client.request_no += 1
        timeout = self.limits.request_timeout
        if timeout is not None:
            call_at(self.env, now + timeout, self._read_timeout, client, client.request_no)

    def _read_timeout(self, client: ClientSide, request_no: int) -> None:
        if client.request_no == request_no and client.partial > 0 and not client.dead:
            self._refuse_early(client, 408, self.env.now)

    def _refuse_early(self, client: ClientSide, status: int, now: float) -> None:
        """Answer the request still arriving on ``client`` with ``status``, then reset.

        The request is not complete, so the balancer has not parsed it; like an
        HTTP/1.1 server it answers the connection's oldest outstanding request
        (``request=None``) and then drops the connection.
        """
        client.dead = True
        self.release_held(client)
        self.local_answers[status] = self.local_answers.get(status, 0) + 1
        conn = client.conn
        if conn.state in _SENDABLE:
            client.channel.send(HttpResponse(None, status, ERROR_RESPONSE_SIZE, self.name), now)
            client.channel.then(lambda: self._reset(conn))

    def _reset(self, conn: TcpConnection) -> None:
        if conn.state is not TcpState.CLOSED:
            conn.abort(self.env.now)
            self.stack.flush(conn)
