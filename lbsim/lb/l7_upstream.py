"""Layer-7 upstream pools: pooled connections to each backend, opened, reused, retired.

Theory of operation: the layer-7 proxy keeps its own connections to backends,
separate from clients' (concept C15). Each backend has a :class:`Pool`: idle
connections ready for a request, how many exist, and the requests waiting when
``pool.max`` connections are all busy. A request is written to an idle
connection, or to a new one if the pool may grow (its handshake then delays the
request), or waits for one to free up. A connection idle for ``idle_timeout`` is
closed; those timeouts share one pending event (:mod:`lbsim.lb.deadlines`), as
most releases are followed by a reuse long before the timeout. When a connection
ends with a request on it, the request fails over to the retry policy
(:mod:`lbsim.lb.l7_retries`) or is answered 502 (504 after a per-try timeout).
Every upstream connection gets its ``connections.csv`` row when it closes or at
the end of the run.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, cast

import simpy

from lbsim.app.http import HttpRequest
from lbsim.app.tls import TlsEndpoint
from lbsim.host.channel import PlainChannel, TlsChannel
from lbsim.host.cpu import Cpu
from lbsim.host.stack import PortsExhausted, TcpStack
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import record_backend_connection
from lbsim.lb.deadlines import DeadlineQueue
from lbsim.lb.l7_responses import response_arrived, response_bytes
from lbsim.lb.routing import Rule
from lbsim.net.addresses import BACKEND_PORT, BACKEND_TLS_PORT
from lbsim.records import Recorder
from lbsim.scenario.features import TlsServerConfig
from lbsim.sched import call_at
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection

if TYPE_CHECKING:
    from lbsim.lb.l7 import ClientSide, L7Balancer


class Upstream:
    """The proxy's application on one pooled backend connection."""

    __slots__ = (
        "backend",
        "channel",
        "client",
        "conn",
        "dead",
        "idle_since",
        "lb",
        "relayed",
        "request",
        "requests",
        "rule",
        "sent_at",
        "timed_out",
    )

    def __init__(self, lb: L7Balancer, backend: BackendRef) -> None:
        self.lb = lb
        self.backend = backend
        self.conn: TcpConnection | None = None
        self.client: ClientSide | None = None
        self.request: HttpRequest | None = None
        self.rule: Rule | None = None  # the route that chose this backend for the request
        self.sent_at = 0.0
        self.idle_since: float | None = None
        self.dead = False
        self.requests = 0
        self.relayed = 0  # response bytes already streamed to the client
        self.timed_out = False
        self.channel: PlainChannel | TlsChannel | None = None

    def assign(self, client: ClientSide, req: HttpRequest, rule: Rule, now: float) -> None:
        """Give this connection a client's request (routed by ``rule``); send it once ready."""
        self.client = client
        self.request = req
        self.rule = rule
        self.idle_since = None
        self.requests += 1
        self.relayed = 0
        if self.ready:
            self._send(now)

    @property
    def ready(self) -> bool:
        """Its handshake(s) are done: requests can be written."""
        conn = self.conn
        return (
            conn is not None
            and conn.state is TcpState.ESTABLISHED
            and self.channel is not None
            and self.channel.up
        )

    def _send(self, now: float) -> None:
        req = self.request
        client = self.client
        assert req is not None and self.channel is not None
        self.sent_at = now
        self.channel.send(self.lb.outgoing(req, client), now)
        if client is not None:
            self.lb.unhold(client, req.size)
        timeout = self.lb.per_try_timeout
        if timeout is not None:
            call_at(self.lb.env, now + timeout, self.lb.try_timeout, self, self.requests)

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Send the waiting request, or return to the idle pool if there is none."""
        if self.channel is None:
            self.channel = PlainChannel(conn, self.lb.stack)
        if self.request is not None:
            self._send(now)
        else:
            self.lb.release(self, now)

    #: Response bytes arrived: hold them, or relay them towards the client (streamed).
    on_data = response_bytes
    #: A whole response arrived: complete the request it answers, free the connection.
    on_message = response_arrived

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The backend closed: close our side and fail what was in flight."""
        conn.close(now)
        self.lb.upstream_failed(self, now, "backend closed the connection")

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """The connection ended: fail what was in flight and record the connection."""
        self.lb.upstream_failed(self, now, f"upstream connection {error or 'closed'}")
        self.lb.record_upstream(self, now, error)


def reused(idle: tuple[Upstream, float]) -> bool:
    """Whether the connection of an idle timeout was reused or retired since.

    Its ``idle_since`` only moves on (a later release) or it is dead for good,
    so such a timeout can never apply again.
    """
    upstream, idle_since = idle
    return upstream.idle_since != idle_since or upstream.dead


class Pool:
    """Connections to one backend: idle ones, how many exist, who waits."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[Upstream] = []
        self.open = 0
        self.waiters: deque[tuple[ClientSide, HttpRequest, Rule]] = deque()


class UpstreamPools:
    """The pool half of :class:`~lbsim.lb.l7.L7Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what the pools use of the proxy (declared for type checking only)
        env: simpy.Environment
        name: str
        stack: TcpStack
        cpu: Cpu
        tls: TlsServerConfig | None
        inside: int
        recorder: Recorder
        pools: dict[str, Pool]
        pool_max: int | None
        idle_timeout: float
        upstreams: set[Upstream]
        _upstream_ids: int
        _idle_deadlines: DeadlineQueue

        def _backend_failed(self, backend: BackendRef, now: float) -> None: ...
        def _done(self, req: HttpRequest) -> None: ...
        def _finished(self, client: ClientSide, now: float) -> None: ...
        def _give_up(
            self, client: ClientSide, req: HttpRequest, status: int, now: float
        ) -> None: ...
        def _may_retry(self, req: HttpRequest) -> bool: ...
        def _reset(self, conn: TcpConnection) -> None: ...
        def _retry(self, client: ClientSide, req: HttpRequest, now: float) -> None: ...

    def _open(self, backend: BackendRef, now: float) -> Upstream | None:
        upstream = Upstream(cast("L7Balancer", self), backend)
        self._upstream_ids += 1
        name = f"{self.name}-up{self._upstream_ids}"
        listener: Any = upstream
        port = BACKEND_PORT
        if self.tls is not None and self.tls.reencrypt:
            # Re-encryption: the balancer is a TLS client of the backend.
            endpoint = TlsEndpoint("client", "1.3", name=name)
            upstream.channel = TlsChannel(self.env, endpoint, upstream, self.stack, cpu=self.cpu)
            listener, port = upstream.channel, BACKEND_TLS_PORT
        try:
            upstream.conn = self.stack.connect(self.inside, backend.ip, port, listener)
        except PortsExhausted:
            return None
        self.upstreams.add(upstream)
        upstream.conn.user = name
        upstream.conn.stream_data = True
        self.pools[backend.name].open += 1
        return upstream

    # --------------------------------------------------------------- pools

    def release(self, upstream: Upstream, now: float) -> None:
        """Return an upstream connection to its pool (or hand it to a waiter)."""
        if upstream.dead:
            return
        pool = self.pools[upstream.backend.name]
        if pool.waiters:
            client, req, rule = pool.waiters.popleft()
            upstream.assign(client, req, rule, now)
            return
        upstream.idle_since = now
        pool.idle.append(upstream)
        self._idle_deadlines.add(now + self.idle_timeout, (upstream, now))

    def expire_idle(self, idle: tuple[Upstream, float]) -> None:
        """Close an upstream connection that stayed idle for ``idle_timeout``.

        ``idle`` is the connection and the time it became idle, as
        :meth:`release` armed the timeout; it no longer applies if the connection
        was used (or closed) since.
        """
        upstream, idle_since = idle
        if upstream.idle_since != idle_since or upstream.dead or upstream.conn is None:
            return
        self._retire(upstream, self.env.now)
        upstream.conn.close(self.env.now)
        self.stack.flush(upstream.conn)

    def _retire(self, upstream: Upstream, now: float) -> None:
        """Take a connection out of its pool for good; let a waiter open a new one."""
        if upstream.dead:
            return
        upstream.dead = True
        pool = self.pools[upstream.backend.name]
        pool.open -= 1
        if upstream in pool.idle:
            pool.idle.remove(upstream)
        if pool.waiters and (self.pool_max is None or pool.open < self.pool_max):
            fresh = self._open(upstream.backend, now)
            if fresh is not None:
                client, req, rule = pool.waiters.popleft()
                fresh.assign(client, req, rule, now)

    def upstream_failed(self, upstream: Upstream, now: float, reason: str) -> None:
        """An upstream connection ended: drop it from the pool, fail its request (502)."""
        self._retire(upstream, now)
        client, req = upstream.client, upstream.request
        if client is not None and req is not None:
            upstream.client = upstream.request = None
            upstream.backend.active -= 1
            self._backend_failed(upstream.backend, now)
            status = 504 if upstream.timed_out else 502
            if upstream.relayed:
                # Part of the response already went to the client: nothing to retry.
                self._done(req)
                client.channel.then(lambda: self._reset(client.conn))
                self._finished(client, now)
            elif self._may_retry(req):
                self._retry(client, req, now)
            else:
                self._give_up(client, req, status, now)

    # ------------------------------------------------------------- records

    def finalize(self, now: float) -> None:
        """End of run: record the upstream connections still open."""
        for upstream in sorted(self.upstreams, key=lambda u: str(u.conn.user if u.conn else "")):
            self.record_upstream(upstream, None, None)

    def record_upstream(self, upstream: Upstream, now: float | None, error: str | None) -> None:
        """Write the record of an upstream connection (``now`` None: still open)."""
        conn = upstream.conn
        if conn is None or upstream not in self.upstreams:
            return
        self.upstreams.discard(upstream)
        record_backend_connection(self.recorder, conn, upstream.backend, upstream.requests, error)
