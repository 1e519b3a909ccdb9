"""A layer-7 balancer: a reverse proxy that terminates TCP and routes each request.

Theory of operation: the balancer owns the VIP and *terminates* every client TCP
connection in its own stack; it keeps separate, pooled TCP connections to the
backends. Request bytes arriving from a client are held in the balancer's memory
(counted in ``buffered_bytes``) until the request is complete -- only then can it be
parsed. Parsing costs ``per_request`` of CPU; when that work finishes the request
is routed (first matching route decides the backend group), one backend is picked
*per request* by the group's algorithm, and the request is written to an idle
pooled connection to that backend (opening one if the pool allows, otherwise
waiting in the backend's queue). The backend therefore sees the first request byte
only after the balancer received the last one. The response is buffered whole,
then written to the client connection. Consecutive requests on one client
connection can thus land on different backends.

Each segment the balancer's stack receives or sends costs ``per_segment`` of CPU
on ``cores`` cores, so under load the balancer itself becomes the bottleneck.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import simpy

from lbsim.app.http import ERROR_RESPONSE_SIZE, HttpRequest, HttpResponse
from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.cpu import Cpu
from lbsim.net.addresses import BACKEND_PORT, LB_INSIDE, VIP, VIP_PORT, endpoint_str
from lbsim.nodes.stack import PortsExhausted, TcpStack
from lbsim.records import ConnectionRecord, Recorder
from lbsim.sched import call_at
from lbsim.streams import mix64
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection

_SENDABLE = (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT)


class Route:
    """A routing rule: requests whose path starts with ``path_prefix`` go to ``group``."""

    __slots__ = ("algorithm", "backends", "group", "path_prefix")

    def __init__(
        self,
        path_prefix: str | None,
        group: str,
        backends: Sequence[BackendRef],
        algorithm: Algorithm,
    ) -> None:
        self.path_prefix = path_prefix
        self.group = group
        self.backends = list(backends)
        self.algorithm = algorithm

    def matches(self, req: HttpRequest) -> bool:
        """Whether this rule takes ``req``."""
        return self.path_prefix is None or req.path.startswith(self.path_prefix)


class _ClientSide:
    """The proxy's application on one client connection."""

    __slots__ = ("closing", "conn", "in_flight", "lb")

    def __init__(self, lb: L7Balancer, conn: TcpConnection) -> None:
        self.lb = lb
        self.conn = conn
        self.in_flight = 0  # requests received and not yet answered (several if multiplexed)
        self.closing = False
        conn.stream_data = True

    def on_established(self, conn: TcpConnection, now: float) -> None:
        self.lb.client_connections += 1

    def on_data(
        self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float
    ) -> None:
        lb = self.lb
        held = lb.buffered_bytes = lb.buffered_bytes + nbytes
        if held > lb.peak_buffer:
            lb.peak_buffer = held

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        req: HttpRequest = message
        req.ctx.t_lb_first_byte = first_byte
        req.ctx.t_lb_last_byte = now
        self.in_flight += 1
        self.lb.request_complete(self, req, now)

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        if self.in_flight:
            self.closing = True
        else:
            conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.lb.client_connections -= 1


class _Upstream:
    """The proxy's application on one pooled backend connection."""

    __slots__ = (
        "backend",
        "client",
        "conn",
        "dead",
        "idle_since",
        "lb",
        "request",
        "requests",
        "sent_at",
    )

    def __init__(self, lb: L7Balancer, backend: BackendRef) -> None:
        self.lb = lb
        self.backend = backend
        self.conn: TcpConnection | None = None
        self.client: _ClientSide | None = None
        self.request: HttpRequest | None = None
        self.sent_at = 0.0
        self.idle_since: float | None = None
        self.dead = False
        self.requests = 0

    def assign(self, client: _ClientSide, req: HttpRequest, now: float) -> None:
        self.client = client
        self.request = req
        self.idle_since = None
        self.requests += 1
        conn = self.conn
        if conn is not None and conn.state is TcpState.ESTABLISHED:
            self._send(now)

    def _send(self, now: float) -> None:
        req = self.request
        assert req is not None and self.conn is not None
        self.sent_at = now
        self.conn.send(req.size, req, now)
        self.lb.buffer(-req.size)
        self.lb.stack.flush(self.conn)

    def on_established(self, conn: TcpConnection, now: float) -> None:
        if self.request is not None:
            self._send(now)
        else:
            self.lb.release(self, now)

    def on_data(
        self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float
    ) -> None:
        lb = self.lb
        held = lb.buffered_bytes = lb.buffered_bytes + nbytes
        if held > lb.peak_buffer:
            lb.peak_buffer = held

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        resp: HttpResponse = message
        self.lb.response_complete(self, resp, now)

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        conn.close(now)
        self.lb.upstream_failed(self, now, "backend closed the connection")

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.lb.upstream_failed(self, now, f"upstream connection {error or 'closed'}")
        self.lb.record_upstream(self, now, error)


class _Pool:
    """Connections to one backend: idle ones, how many exist, who waits."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Upstream] = []
        self.open = 0
        self.waiters: deque[tuple[_ClientSide, HttpRequest]] = deque()


class L7Balancer:
    """Layer-7 reverse proxy.

    Attributes:
        stack: The proxy's TCP stack (client side on the VIP, backend side on its
            inside address).
        routes: Ordered routing rules; the first match decides.
        buffered_bytes: Request and response bytes held in memory now.
        peak_buffer: Largest ``buffered_bytes`` seen.
    """

    layer = 7

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        stack: TcpStack,
        routes: Sequence[Route],
        *,
        cpu: Cpu,
        per_request: float,
        pool_max: int | None,
        pool_warm: int,
        idle_timeout: float,
        recorder: Recorder,
        upstream_mss: int | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.stack = stack
        self.routes = list(routes)
        self.cpu = cpu
        self.per_request = per_request
        self.pool_max = pool_max
        self.idle_timeout = idle_timeout
        self.recorder = recorder
        self.upstream_mss = upstream_mss
        self.buffered_bytes = 0
        self.peak_buffer = 0
        self.client_connections = 0
        self._upstream_ids = 0
        self.upstreams: set[_Upstream] = set()
        backends: dict[str, BackendRef] = {}
        for route in self.routes:
            for b in route.backends:
                backends[b.name] = b
        self.backends = list(backends.values())
        self.pools = {b.name: _Pool() for b in self.backends}
        stack.listen(VIP, VIP_PORT, lambda conn: _ClientSide(self, conn))
        for backend in self.backends:
            for _ in range(pool_warm):
                self._open(backend, env._now)

    # -------------------------------------------------------------- buffers

    def buffer(self, delta: int) -> None:
        """Account ``delta`` bytes more (or fewer) held in the proxy's memory."""
        held = self.buffered_bytes + delta
        self.buffered_bytes = held
        if held > self.peak_buffer:
            self.peak_buffer = held

    @property
    def table_entries(self) -> int:
        """TCP connections the proxy holds (both sides, TIME_WAIT included)."""
        return len(self.stack.conns)

    @property
    def peak_connections(self) -> int:
        """Most TCP connections held at once."""
        return self.stack.peak_conns

    # ------------------------------------------------------------- requests

    def request_complete(self, client: _ClientSide, req: HttpRequest, now: float) -> None:
        """A whole request is in memory: parse it (CPU), then dispatch it."""
        done = self.cpu.run(now, self.per_request)
        call_at(self.env, done, self._dispatch, client, req)

    def _dispatch(self, client: _ClientSide, req: HttpRequest) -> None:
        now = self.env._now
        route = next((r for r in self.routes if r.matches(req)), None)
        if route is None:
            self.buffer(-req.size)
            self._reply(client, HttpResponse(req, 404, ERROR_RESPONSE_SIZE, self.name), now)
            return
        backend = route.algorithm.pick(route.backends, now, mix64(client.conn.remote_ip))
        backend.active += 1
        pool = self.pools[backend.name]
        if pool.idle:
            pool.idle.pop().assign(client, req, now)
        elif self.pool_max is None or pool.open < self.pool_max:
            upstream = self._open(backend, now)
            if upstream is None:
                backend.active -= 1
                self.buffer(-req.size)
                self._reply(client, HttpResponse(req, 503, ERROR_RESPONSE_SIZE, self.name), now)
                return
            upstream.assign(client, req, now)
        else:
            pool.waiters.append((client, req))

    def _open(self, backend: BackendRef, now: float) -> _Upstream | None:
        upstream = _Upstream(self, backend)
        try:
            upstream.conn = self.stack.connect(
                LB_INSIDE, backend.ip, BACKEND_PORT, upstream, mss=self.upstream_mss
            )
        except PortsExhausted:
            return None
        self._upstream_ids += 1
        self.upstreams.add(upstream)
        upstream.conn.user = f"{self.name}-up{self._upstream_ids}"
        upstream.conn.stream_data = True
        self.pools[backend.name].open += 1
        return upstream

    def response_complete(self, upstream: _Upstream, resp: HttpResponse, now: float) -> None:
        """The backend's whole response is in memory: relay it, free the connection."""
        client, req = upstream.client, upstream.request
        backend = upstream.backend
        upstream.client = upstream.request = None
        backend.active -= 1
        for route in self.routes:
            if backend in route.backends:
                route.algorithm.on_complete(backend, now, now - upstream.sent_at)
                break
        self.release(upstream, now)
        self.buffer(-resp.size)
        if client is not None and req is not None:
            self._reply(client, resp, now)

    def _reply(self, client: _ClientSide, resp: HttpResponse, now: float) -> None:
        conn = client.conn
        client.in_flight -= 1
        if conn.state in _SENDABLE:
            conn.send(resp.size, resp, now)
            if client.closing and not client.in_flight:
                conn.close(now)
            self.stack.flush(conn)

    def release(self, upstream: _Upstream, now: float) -> None:
        """Return an upstream connection to its pool (or hand it to a waiter)."""
        if upstream.dead:
            return
        pool = self.pools[upstream.backend.name]
        if pool.waiters:
            client, req = pool.waiters.popleft()
            upstream.assign(client, req, now)
            return
        upstream.idle_since = now
        pool.idle.append(upstream)
        call_at(self.env, now + self.idle_timeout, self._expire, upstream, now)

    def _expire(self, upstream: _Upstream, idle_since: float) -> None:
        """Close an upstream connection that stayed idle for ``idle_timeout``."""
        if upstream.idle_since != idle_since or upstream.dead or upstream.conn is None:
            return
        self._retire(upstream, self.env._now)
        upstream.conn.close(self.env._now)
        self.stack.flush(upstream.conn)

    def _retire(self, upstream: _Upstream, now: float) -> None:
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
                client, req = pool.waiters.popleft()
                fresh.assign(client, req, now)

    def upstream_failed(self, upstream: _Upstream, now: float, reason: str) -> None:
        """An upstream connection ended: drop it from the pool, fail its request (502)."""
        self._retire(upstream, now)
        client, req = upstream.client, upstream.request
        if client is not None and req is not None:
            upstream.client = upstream.request = None
            upstream.backend.active -= 1
            self._reply(client, HttpResponse(req, 502, ERROR_RESPONSE_SIZE, self.name), now)

    def finalize(self) -> None:
        """End of run: record the upstream connections still open."""
        for upstream in sorted(self.upstreams, key=lambda u: str(u.conn.user if u.conn else "")):
            self.record_upstream(upstream, None, None)

    def record_upstream(self, upstream: _Upstream, now: float | None, error: str | None) -> None:
        """Write the record of an upstream connection (``now`` None: still open)."""
        conn = upstream.conn
        if conn is None or upstream not in self.upstreams:
            return
        self.upstreams.discard(upstream)
        self.recorder.connections.append(
            ConnectionRecord(
                variant=self.recorder.variant,
                connection=str(conn.user),
                side="backend",
                src=endpoint_str(conn.local_ip, conn.local_port),
                dst=endpoint_str(conn.remote_ip, conn.remote_port),
                backend=upstream.backend.name,
                t_open=conn.opened_at or 0.0,
                t_established=conn.established_at,
                t_close=conn.finished_at,
                requests=upstream.requests,
                bytes_sent=conn.bytes_sent,
                bytes_received=conn.bytes_received,
                segments=conn.segments_sent,
                retransmissions=conn.retransmissions,
                reset=error in ("reset", "aborted"),
            )
        )
