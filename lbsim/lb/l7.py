"""A layer-7 balancer: a reverse proxy that terminates TCP and handles each request.

Theory of operation: the balancer owns the VIP and *terminates* every client TCP
connection in its own stack (concept C15); it keeps separate, pooled connections
to the backends. Request bytes arriving from a client are held in the balancer's
memory (``buffered_bytes``) until the request is complete -- only then can it be
parsed (C16). Limits act while bytes arrive: a request growing past
``max_request`` is answered 413, one that would push the memory held past
``max_buffer`` 503, one still incomplete ``request_timeout`` after its first byte
408; each of those connections is then reset, shielding the backends from it.

A complete request costs one CPU job: a fixed parse cost plus a cost per header
byte, per routing rule evaluated and per cache lookup. When the job finishes the
request goes through the edge, in the order a proxy applies them: blocking (403),
routing (first matching rule; none: 404), authentication (401), authorization
(403), the response cache (a fresh copy is served by the balancer itself) -- and
only then is one backend picked *per request* (C17) by the route's algorithm and
the request written to an idle pooled connection to it (opening one if the pool
allows, otherwise waiting). Requests refused at the edge never reach a backend
(C19). Responses are held whole and then sent (``buffered``) or relayed as they
arrive (``streamed``).

Every segment the balancer's stack receives or sends also costs CPU, on ``cores``
cores, so under load the balancer itself becomes the bottleneck (C20).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from lbsim.app.http import ERROR_RESPONSE_SIZE, HttpRequest, HttpResponse
from lbsim.app.tls import TlsEndpoint
from lbsim.lb.algorithms import stable_hash
from lbsim.lb.backends import BackendRef, usable
from lbsim.lb.cache import ResponseCache
from lbsim.lb.cpu import Cpu
from lbsim.lb.outlier import OutlierDetector
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import Router, Rule, header_map
from lbsim.net.addresses import (
    BACKEND_PORT,
    BACKEND_TLS_PORT,
    LB_INSIDE,
    VIP,
    VIP_PORT,
    VIP_TLS_PORT,
    endpoint_str,
)
from lbsim.nodes.channel import PlainChannel, TlsChannel
from lbsim.nodes.stack import PortsExhausted, TcpStack
from lbsim.records import ConnectionRecord, Recorder
from lbsim.sched import call_at
from lbsim.streams import mix64
from lbsim.transport.states import SENDABLE as _SENDABLE
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection

#: Methods whose requests carry no body: all their bytes are head (header) bytes.
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
#: Head bytes assumed for a request with a body (request line and headers).
_HEAD_WITH_BODY = 500


class L7Costs:
    """CPU seconds per unit of layer-7 work (see ``CostConfig`` in the scenario)."""

    __slots__ = ("per_cache_lookup", "per_header_byte", "per_request", "per_route_rule")

    def __init__(
        self,
        per_request: float = 0.0,
        per_header_byte: float = 0.0,
        per_route_rule: float = 0.0,
        per_cache_lookup: float = 0.0,
    ) -> None:
        self.per_request = per_request
        self.per_header_byte = per_header_byte
        self.per_route_rule = per_route_rule
        self.per_cache_lookup = per_cache_lookup


class Limits:
    """Buffering limits (None: no limit)."""

    __slots__ = ("max_buffer", "max_request", "request_timeout")

    def __init__(
        self,
        max_request: int | None = None,
        max_buffer: int | None = None,
        request_timeout: float | None = None,
    ) -> None:
        self.max_request = max_request
        self.max_buffer = max_buffer
        self.request_timeout = request_timeout


def head_bytes(req: Any) -> int:
    """Bytes of a request's head (what the parser reads)."""
    size: int = req.size
    return size if req.method in _BODYLESS else min(size, _HEAD_WITH_BODY)


class _ClientSide:
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
        self.channel: PlainChannel | TlsChannel = PlainChannel(conn, lb.stack)
        conn.stream_data = True

    def on_established(self, conn: TcpConnection, now: float) -> None:
        self.lb.client_connections += 1

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        self.lb.request_bytes(self, nbytes, ends, now)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        if self.dead:
            return
        self.in_flight += 1
        self.lb.request_complete(self, message, first_byte, now)

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        if self.in_flight:
            self.closing = True
        else:
            conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.lb.client_connections -= 1
        self.lb.release_held(self)


class _Upstream:
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
        "sent_at",
        "timed_out",
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
        self.relayed = 0  # response bytes already streamed to the client
        self.timed_out = False
        self.channel: PlainChannel | TlsChannel | None = None

    def assign(self, client: _ClientSide, req: HttpRequest, now: float) -> None:
        self.client = client
        self.request = req
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
        self.channel.send(req, now)
        if client is not None:
            self.lb.unhold(client, req.size)
        timeout = self.lb.per_try_timeout
        if timeout is not None:
            call_at(self.lb.env, now + timeout, self.lb.try_timeout, self, self.requests)

    def on_established(self, conn: TcpConnection, now: float) -> None:
        if self.channel is None:
            self.channel = PlainChannel(conn, self.lb.stack)
        if self.request is not None:
            self._send(now)
        else:
            self.lb.release(self, now)

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        self.lb.response_bytes(self, nbytes, ends, push, now)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        self.lb.response_complete(self, message, now)

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        conn.close(now)
        self.lb.upstream_failed(self, now, "backend closed the connection")

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.lb.upstream_failed(self, now, f"upstream connection {error or 'closed'}")
        self.lb.record_upstream(self, now, error)


class _Attempt:
    """How a request in progress has been tried so far."""

    __slots__ = ("headers", "retrying", "rule", "tried", "tries")

    def __init__(self, rule: Rule, headers: dict[str, str]) -> None:
        self.rule = rule
        self.headers = headers
        self.tried: set[str] = set()
        self.tries = 0
        self.retrying = False


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
        router: Ordered routing rules.
        policy: Blocking, authentication and authorization.
        cache: Response cache, or None.
        buffered_bytes: Request and response bytes held in memory now.
        peak_buffer: Largest ``buffered_bytes`` seen.
        local_answers: Responses the balancer produced itself, by status code.
    """

    layer = 7

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        stack: TcpStack,
        router: Router,
        *,
        cpu: Cpu,
        costs: L7Costs,
        pool_max: int | None,
        pool_warm: int,
        idle_timeout: float,
        recorder: Recorder,
        policy: EdgePolicy | None = None,
        cache: ResponseCache | None = None,
        limits: Limits | None = None,
        streamed: bool = False,
        hash_on: str = "client_ip",
        tls: Any = None,
        retries: Any = None,
        outlier: OutlierDetector | None = None,
        panic_threshold: float | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.stack = stack
        self.router = router
        self.cpu = cpu
        self.costs = costs
        self.pool_max = pool_max
        self.idle_timeout = idle_timeout
        self.recorder = recorder
        self.policy = policy or EdgePolicy()
        self.cache = cache
        self.limits = limits or Limits()
        self.streamed = streamed
        self._key = _key_function(hash_on)
        self.buffered_bytes = 0
        self.peak_buffer = 0
        self.client_connections = 0
        self.local_answers: dict[int, int] = {}
        self._upstream_ids = 0
        self.upstreams: set[_Upstream] = set()
        self.backends = router.backends
        self.pools = {b.name: _Pool() for b in self.backends}
        self.tls = tls
        self.retries = retries
        self.per_try_timeout: float | None = retries.per_try_timeout if retries else None
        self.outlier = outlier
        self.panic_threshold = panic_threshold
        self.impaired = False  # some backend was marked down, ejected or drained
        self._attempts: dict[str, _Attempt] = {}
        self.retries_active = 0
        self.retried = 0
        #: TLS handshakes terminated here (client side): count, resumed, CPU seconds.
        self.tls_stats: dict[str, float] = {}
        stack.listen(VIP, VIP_PORT, lambda conn: _ClientSide(self, conn))
        if tls is not None:
            stack.listen(VIP, VIP_TLS_PORT, self._accept_tls)
        self.pool_warm = pool_warm
        for backend in self.backends:
            for _ in range(pool_warm):
                self._open(backend, env._now)

    def _accept_tls(self, conn: TcpConnection) -> TlsChannel:
        """A client connection to port 443: TLS ends here, with the balancer's certificate."""
        client = _ClientSide(self, conn)
        tls = self.tls
        endpoint = TlsEndpoint(
            "server",
            "1.3",
            key=tls.key,
            name=self.name,
            resumption=True,
            ticket_lifetime=tls.ticket_lifetime,
        )
        channel = TlsChannel(
            self.env, endpoint, client, self.stack, cpu=self.cpu, stats=self.tls_stats
        )
        channel.conn = conn
        client.channel = channel
        return channel

    # -------------------------------------------------------------- buffers

    def _hold(self, client: _ClientSide, nbytes: int) -> None:
        client.held += nbytes
        held = self.buffered_bytes = self.buffered_bytes + nbytes
        if held > self.peak_buffer:
            self.peak_buffer = held

    def unhold(self, client: _ClientSide, nbytes: int) -> None:
        """``nbytes`` of ``client``'s requests left the balancer's memory."""
        nbytes = min(nbytes, client.held)
        client.held -= nbytes
        self.buffered_bytes -= nbytes

    def release_held(self, client: _ClientSide) -> None:
        """Forget everything held for a connection that is gone."""
        self.unhold(client, client.held)

    def buffer(self, delta: int) -> None:
        """Account response bytes held (positive) or released (negative)."""
        held = self.buffered_bytes = self.buffered_bytes + delta
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

    # ----------------------------------------------------- request arrival

    def request_bytes(self, client: _ClientSide, nbytes: int, ends: Any, now: float) -> None:
        """Request bytes arrived in order: hold them, watch the limits."""
        if client.dead:
            return
        limits = self.limits
        if limits.max_buffer is not None and self.buffered_bytes + nbytes > limits.max_buffer:
            self._refuse_early(client, 503, now)
            return
        self._hold(client, nbytes)
        consumed = 0
        if ends:
            # Requests ending here are complete (on_message follows); only the bytes
            # after the last end belong to a request still arriving.
            client.partial = 0
            consumed = ends[-1][0]
        rest = nbytes - consumed
        if rest > 0:
            if client.partial == 0:
                self._begin_request(client, now)
            client.partial += rest
            if limits.max_request is not None and client.partial > limits.max_request:
                self._refuse_early(client, 413, now)

    def _begin_request(self, client: _ClientSide, now: float) -> None:
        client.started = now
        client.request_no += 1
        timeout = self.limits.request_timeout
        if timeout is not None:
            call_at(self.env, now + timeout, self._read_timeout, client, client.request_no)

    def _read_timeout(self, client: _ClientSide, request_no: int) -> None:
        if client.request_no == request_no and client.partial > 0 and not client.dead:
            self._refuse_early(client, 408, self.env._now)

    def _refuse_early(self, client: _ClientSide, status: int, now: float) -> None:
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
            conn.abort(self.env._now)
            self.stack.flush(conn)

    def request_complete(
        self, client: _ClientSide, req: HttpRequest, first_byte: float, now: float
    ) -> None:
        """A whole request is in memory: one CPU job parses and routes it."""
        ctx = req.ctx
        ctx.t_lb_first_byte = first_byte
        ctx.t_lb_last_byte = now
        max_request = self.limits.max_request
        if max_request is not None and req.size > max_request:
            # It fitted in one segment, so it was only seen whole: refuse it now.
            self.unhold(client, req.size)
            self._answer_locally(client, req, 413, ERROR_RESPONSE_SIZE, now)
            return
        costs = self.costs
        rule, evaluated = self.router.route(req)
        cache = self.cache
        cacheable = cache is not None and self._cacheable(req, rule)
        cost = (
            costs.per_request
            + costs.per_header_byte * head_bytes(req)
            + costs.per_route_rule * evaluated
        )
        if cacheable:
            cost += costs.per_cache_lookup
        done = self.cpu.run(now, cost)
        call_at(self.env, done, self._dispatch, client, req, rule)

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, client: _ClientSide, req: HttpRequest, rule: Rule | None) -> None:
        now = self.env._now
        headers = header_map(req)
        refused = self.policy.block(client.conn.remote_ip, headers)
        if refused is None and rule is None:
            refused = 404
        if refused is None and rule is not None:
            refused = self.policy.admit(rule, headers)
        if refused is not None or rule is None:
            self.unhold(client, req.size)
            self._answer_locally(client, req, refused or 404, ERROR_RESPONSE_SIZE, now)
            return
        cache = self.cache
        if cache is not None and self._cacheable(req, rule):
            hit = cache.lookup(req.method, req.path, now)
            req.ctx.cache_hit = hit is not None
            if hit is not None:
                self.unhold(client, req.size)
                self._reply(client, HttpResponse(req, hit.status, hit.size, self.name), now)
                return
        elif cache is not None:
            req.ctx.cache_hit = False
        self._attempts[req.request_id] = _Attempt(rule, headers)
        self._forward(client, req, now)

    def _cacheable(self, req: HttpRequest, rule: Rule | None) -> bool:
        """Whether the shared cache may answer (and keep the answer to) ``req``.

        Only cacheable methods; and a response to a request carrying credentials
        is personal unless its route is declared public (RFC 9111, 3.5).
        """
        cache = self.cache
        if cache is None or not cache.cacheable(req.method):
            return False
        if rule is not None and rule.public:
            return True
        return not any(name.lower() == "authorization" for name, _ in req.headers)

    def candidates(
        self, rule: Rule, now: float, exclude: set[str] | None = None
    ) -> list[BackendRef]:
        """The backends of ``rule`` this request may go to now.

        All of them while nothing is wrong; otherwise the usable ones (healthy, not
        ejected, not draining) -- or, below the panic threshold, all but draining
        ones -- preferring backends this request has not failed on yet.
        """
        backends = rule.backends
        if self.impaired:
            backends = usable(backends, now, self.panic_threshold)
        if exclude:
            fresh = [b for b in backends if b.name not in exclude]
            if fresh:
                return fresh
        return backends

    def _forward(self, client: _ClientSide, req: HttpRequest, now: float) -> None:
        """Pick a backend for one try of ``req`` and write it to a pooled connection."""
        attempt = self._attempts[req.request_id]
        attempt.tries += 1
        req.ctx.upstream_tries = attempt.tries
        candidates = self.candidates(attempt.rule, now, attempt.tried)
        if not candidates:
            self._give_up(client, req, 503, now)
            return
        key = self._key(client.conn.remote_ip, attempt.headers)
        backend = attempt.rule.algorithm.pick(candidates, now, key)
        attempt.tried.add(backend.name)
        backend.active += 1
        pool = self.pools[backend.name]
        if pool.idle:
            req.ctx.new_upstream = False
            pool.idle.pop().assign(client, req, now)
        elif self.pool_max is None or pool.open < self.pool_max:
            req.ctx.new_upstream = True
            upstream = self._open(backend, now)
            if upstream is None:
                backend.active -= 1
                self._give_up(client, req, 503, now)
                return
            upstream.assign(client, req, now)
        else:
            req.ctx.new_upstream = False  # it waits for a pooled connection to free up
            pool.waiters.append((client, req))

    def _answer_locally(
        self, client: _ClientSide, req: HttpRequest, status: int, size: int, now: float
    ) -> None:
        self.local_answers[status] = self.local_answers.get(status, 0) + 1
        self._reply(client, HttpResponse(req, status, size, self.name), now)

    def _open(self, backend: BackendRef, now: float) -> _Upstream | None:
        upstream = _Upstream(self, backend)
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
            upstream.conn = self.stack.connect(LB_INSIDE, backend.ip, port, listener)
        except PortsExhausted:
            return None
        self.upstreams.add(upstream)
        upstream.conn.user = name
        upstream.conn.stream_data = True
        self.pools[backend.name].open += 1
        return upstream

    # ----------------------------------------------------------- responses

    def response_bytes(
        self, upstream: _Upstream, nbytes: int, ends: Any, push: bool, now: float
    ) -> None:
        """Response bytes from a backend: hold them, or relay them at once (streamed)."""
        client = upstream.client
        if not self._streams(upstream):
            self.buffer(nbytes)
        elif client is not None and client.conn.state in _SENDABLE:
            upstream.relayed += nbytes
            client.channel.relay(nbytes, ends, not push, now)

    def _streams(self, upstream: _Upstream) -> bool:
        """Whether a response from ``upstream`` is relayed as it arrives.

        Over a re-encrypted upstream the balancer must first decrypt a record, so
        the response is relayed message by message, as if buffered.
        """
        channel = upstream.channel
        return self.streamed and not (channel is not None and channel.tls)

    def response_complete(self, upstream: _Upstream, resp: HttpResponse, now: float) -> None:
        """A backend's whole response has arrived: relay it (if held), free the connection."""
        client, req = upstream.client, upstream.request
        backend = upstream.backend
        upstream.client = upstream.request = None
        backend.active -= 1
        for rule in self.router.rules:
            if backend in rule.backends:
                rule.algorithm.on_complete(backend, now, now - upstream.sent_at)
                break
        if resp.status is not None and resp.status >= 500:
            self._backend_failed(backend, now)
            retry = self.retries is not None and self.retries.on_5xx and not upstream.relayed
            if retry and client is not None and req is not None and self._may_retry(req):
                self.buffer(-resp.size if not self._streams(upstream) else 0)
                self.release(upstream, now)
                self._retry(client, req, now)
                return
        elif self.outlier is not None:
            self.outlier.success(backend, now)
        if req is not None:
            attempt = self._attempts.get(req.request_id)
            if self.cache is not None and self._cacheable(req, attempt.rule if attempt else None):
                self.cache.store(req.method, req.path, resp.size, resp.status, backend.name, now)
            self._done(req)
        streamed = self._streams(upstream)
        self.release(upstream, now)
        if streamed:
            if client is not None:
                self._finished(client, now)
            return
        self.buffer(-resp.size)
        if client is not None and req is not None:
            self._reply(client, resp, now)

    def _reply(self, client: _ClientSide, resp: HttpResponse, now: float) -> None:
        if client.conn.state in _SENDABLE and not client.dead:
            client.channel.send(resp, now)
        self._finished(client, now)

    def _finished(self, client: _ClientSide, now: float) -> None:
        client.in_flight -= 1
        if client.closing and not client.in_flight:
            client.channel.then(lambda: self._close(client.conn))

    def _close(self, conn: TcpConnection) -> None:
        if conn.state in _SENDABLE:
            conn.close(self.env._now)
            self.stack.flush(conn)

    # --------------------------------------------------------------- pools

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

    # --------------------------------------------------------------- faults

    def try_timeout(self, upstream: _Upstream, try_number: int) -> None:
        """A try took longer than ``per_try_timeout``: abandon its connection."""
        if upstream.requests == try_number and upstream.request is not None and upstream.conn:
            upstream.timed_out = True
            upstream.conn.abort(self.env._now)
            self.stack.flush(upstream.conn)

    def _backend_failed(self, backend: BackendRef, now: float) -> None:
        if self.outlier is not None and self.outlier.failure(backend, now):
            self.impaired = True

    def _may_retry(self, req: HttpRequest) -> bool:
        """Whether a failed try of ``req`` may be retried (policy, attempts, budget)."""
        cfg = self.retries
        attempt = self._attempts.get(req.request_id)
        if cfg is None or attempt is None or req.method not in cfg.methods:
            return False
        if attempt.tries > cfg.attempts:
            return False
        if not attempt.retrying:
            budget = max(3.0, cfg.budget * len(self._attempts))
            if self.retries_active >= budget:
                return False
        return True

    def _retry(self, client: _ClientSide, req: HttpRequest, now: float) -> None:
        attempt = self._attempts[req.request_id]
        if not attempt.retrying:
            attempt.retrying = True
            self.retries_active += 1
        self.retried += 1
        self._forward(client, req, now)

    def _done(self, req: HttpRequest) -> None:
        """``req`` has its final answer: forget its tries."""
        attempt = self._attempts.pop(req.request_id, None)
        if attempt is not None and attempt.retrying:
            self.retries_active -= 1

    def _give_up(self, client: _ClientSide, req: HttpRequest, status: int, now: float) -> None:
        self._done(req)
        self.unhold(client, req.size)
        self._answer_locally(client, req, status, ERROR_RESPONSE_SIZE, now)

    def health_changed(self, backend: BackendRef, healthy: bool, now: float) -> None:
        """The health checker flipped a backend."""
        self.impaired = True

    def backends_changed(self, *_args: object) -> None:
        """A backend was drained or removed."""
        self.impaired = True

    def add_backend(self, backend: BackendRef) -> None:
        """Scale out: the new backend joins every rule over its group."""
        for rule in self.router.rules:
            if rule.group == backend.group or (
                rule.group == "*" and any(b.group == backend.group for b in rule.backends)
            ):
                rule.backends.append(backend)
        self.backends.append(backend)
        self.pools[backend.name] = _Pool()
        for _ in range(self.pool_warm):
            self._open(backend, self.env._now)

    def restart(self, now: float, downtime: float) -> None:
        """The balancer restarts: every TCP connection and pooled connection is lost.

        Clients' later segments find no connection and are reset; requests in
        progress are lost with them.
        """
        self.stack.forget_all()
        self.upstreams.clear()
        for name in self.pools:
            self.pools[name] = _Pool()
        for backend in self.backends:
            backend.active = 0
        self._attempts.clear()
        self.retries_active = 0
        self.buffered_bytes = 0
        self.client_connections = 0
        for backend in self.backends:
            for _ in range(self.pool_warm):
                self._open(backend, now)

    # ------------------------------------------------------------- records

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
                segments=conn.segments,
                retransmissions=conn.retransmissions,
                reset=error in ("reset", "aborted"),
            )
        )


def _key_function(hash_on: str) -> Callable[[int, dict[str, str]], int]:
    """How a request's ``consistent_hash`` key is made (``hash_on``)."""
    if hash_on == "client_ip":
        return lambda ip, headers: mix64(ip)
    kind, _, name = hash_on.partition(":")
    name = name.lower()
    if kind == "header":
        return lambda ip, headers: stable_hash(headers.get(name, ""))
    if kind == "cookie":

        def from_cookie(ip: int, headers: dict[str, str]) -> int:
            for part in headers.get("cookie", "").split(";"):
                key, _, value = part.strip().partition("=")
                if key.lower() == name:
                    return stable_hash(value)
            return stable_hash("")

        return from_cookie
    raise ValueError(f"unknown hash_on {hash_on!r}")
