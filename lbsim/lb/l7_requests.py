"""Layer-7 requests: parse and route a whole request, then the edge, the pick, the write.

Theory of operation: a request is complete in the proxy's memory when the client
connection reports its last byte (:func:`request_arrived`, which *is* the client
connection's ``on_message``). Parsing it is one CPU job: a fixed cost plus a cost
per header byte, per routing rule evaluated and per cache lookup. When the job is
done (:meth:`Requests._dispatch`) the request meets the edge in the order a proxy
applies it -- blocking (403), routing (none matched: 404), authentication (401),
authorization (403), the response cache -- and then one backend is picked for
it by its rule's algorithm (concept C17) and it is written to an idle pooled
connection to that backend, or to a new one, or waits for one to free up
(:meth:`Requests._place`).

The common case runs fused. A balancer with nothing configured that could refuse a
request at the edge, read its headers or keep state per try (no blocking, tokens
or user lists; no cache, retries, circuit breakers, cookie affinity, load
reports, header-keyed hashing; no detailed decision records) has
:attr:`~lbsim.lb.l7.L7Balancer.fast_path` set: it routes without building a
header map, keeps no :class:`~lbsim.lb.l7_retries.Attempt`, and when nothing is
impaired and the picked backend's pool has an idle connection, picks, assigns and
writes the request in the one call that the CPU job's end schedules. Everything
else takes the general code below, which gives the same results: the fused path
leaves out only steps that cannot act in the common case. It exists because this
is the per-request path of every layer-7 run: each function boundary on it is
paid once per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import simpy

from lbsim.app.http import ERROR_RESPONSE_SIZE, HttpRequest, HttpResponse
from lbsim.app.proxy_protocol import ProxyHeader
from lbsim.host.stack import TcpStack
from lbsim.lb.affinity import CookieAffinity
from lbsim.lb.backends import BackendRef
from lbsim.lb.breaker import CircuitBreakers
from lbsim.lb.cache import ResponseCache
from lbsim.lb.forwarded import forwarded_request
from lbsim.lb.l7_config import BODYLESS, HEAD_WITH_BODY
from lbsim.lb.l7_decisions import record_cache_hit, record_pick, record_refusal, record_skips
from lbsim.lb.l7_retries import Attempt
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import NO_HEADERS, Rule, header_map
from lbsim.records import Recorder
from lbsim.sched import call_at
from lbsim.transport.states import ESTABLISHED
from lbsim.transport.tcp import TcpConnection

if TYPE_CHECKING:
    from collections.abc import Callable

    from lbsim.lb.l7 import L7Balancer
    from lbsim.lb.l7_buffers import ClientSide
    from lbsim.lb.l7_upstream import Pool, Upstream

__all__ = ["Requests", "request_arrived"]


def request_arrived(
    client: ClientSide, conn: TcpConnection, req: Any, first_byte: float, now: float
) -> None:
    """A whole request is in memory (the client connection's ``on_message``): parse it.

    Routing and the parse cost are worked out now; the CPU job runs them and
    :meth:`Requests._dispatch` takes the request on when it is done. A PROXY
    protocol header ahead of the requests names the client instead.
    """
    if client.dead:
        return
    if isinstance(req, ProxyHeader):
        client.peer_ip = req.src_ip
        return
    client.in_flight += 1
    lb = client.lb
    ctx = req.ctx
    ctx.t_lb_first_byte = first_byte
    ctx.t_lb_last_byte = now
    size = req.size
    max_request = lb.limits.max_request
    if max_request is not None and size > max_request:
        # It fitted in one segment, so it was only seen whole: refuse it now.
        lb.unhold(client, size)
        lb._answer_locally(client, req, 413, ERROR_RESPONSE_SIZE, now)
        return
    headers = NO_HEADERS if lb.fast_path else header_map(req)
    router = lb.router
    rule = router.catch_all
    evaluated = 1
    if rule is None:
        rule, evaluated = router.route(req, None if headers is NO_HEADERS else headers)
    costs = lb.costs
    cost = (
        costs.per_request
        + costs.per_header_byte * (size if req.method in BODYLESS else min(size, HEAD_WITH_BODY))
        + costs.per_route_rule * evaluated
    )  # the head's bytes: l7_config.head_bytes(req)
    if lb.cache is not None and lb._cacheable(req, rule):
        cost += costs.per_cache_lookup
    call_at(lb.env, lb.cpu.run(now, cost), lb._dispatch, client, req, rule, headers)


def _proxy(half: Requests) -> L7Balancer:
    """The proxy this mixin is a part of (for the decision records, which take it)."""
    return cast("L7Balancer", half)


class Requests:
    """The request half of :class:`~lbsim.lb.l7.L7Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what requests use of the proxy (declared for type checking only)
        env: simpy.Environment
        name: str
        inside: int
        stack: TcpStack
        recorder: Recorder
        policy: EdgePolicy
        cache: ResponseCache | None
        affinity: CookieAffinity | None
        breakers: CircuitBreakers | None
        backends: list[BackendRef]
        pools: dict[str, Pool]
        pool_max: int | None
        impaired: bool
        fast_path: bool
        forward_xff: bool
        forward_rfc7239: bool
        buffered_bytes: int
        local_answers: dict[int, int]
        _attempts: dict[str, Attempt]
        _key: Callable[[int, dict[str, str]], int]

        def candidates(
            self, rule: Rule, now: float, exclude: set[str] | None = None
        ) -> list[BackendRef]:
            """The backends of ``rule`` a try may go to now."""

        def unhold(self, client: ClientSide, nbytes: int) -> None:
            """``nbytes`` of ``client``'s requests left the balancer's memory."""

        def _done(self, req: HttpRequest) -> None: ...
        def _open(self, backend: BackendRef, now: float) -> Upstream | None: ...
        def _reply(self, client: ClientSide, resp: HttpResponse, now: float) -> None: ...

    def _dispatch(
        self, client: ClientSide, req: HttpRequest, rule: Rule | None, headers: dict[str, str]
    ) -> None:
        """The parse job is done: the edge, then the pick and the write (fused if common)."""
        now = self.env.now
        if self.fast_path and rule is not None and rule.backends and not self.impaired:
            # The fused path (see the module docstring): the edge passes everything,
            # every backend of the rule is a candidate, and nothing is kept per try.
            algorithm = rule.algorithm
            key = self._key(client.peer_ip, headers) if algorithm.uses_key else None
            backend = algorithm.pick(rule.backends, now, key)
            ctx = req.ctx
            ctx.upstream_tries = 1
            backend.active += 1
            pool = self.pools[backend.name]
            idle = pool.idle
            if not idle:
                self._place(client, req, rule, backend, pool, now)
                return
            ctx.new_upstream = False
            upstream = idle.pop()
            # upstream.assign(client, req, rule, now) and its _send, written out.
            upstream.client = client
            upstream.request = req
            upstream.rule = rule
            upstream.idle_since = None
            upstream.requests += 1
            upstream.relayed = 0
            conn = upstream.conn
            channel = upstream.channel
            if conn is None or conn.state is not ESTABLISHED or channel is None or not channel.up:
                return  # written when its handshake is done (Upstream.on_established)
            upstream.sent_at = now
            out = req
            if self.forward_xff or self.forward_rfc7239:
                out = forwarded_request(
                    req, client.peer_ip, self.inside,
                    xff=self.forward_xff, forwarded=self.forward_rfc7239,
                )  # fmt: skip
            if channel.tls:
                channel.send(out, now)
            else:  # PlainChannel.send, written out (the connection is established)
                conn.send(out.size, out, now)
                self.stack.flush(conn)
            # self.unhold(client, req.size), written out.
            size = req.size
            held = client.held
            if size > held:
                size = held
            client.held = held - size
            self.buffered_bytes -= size
            return
        refused = self.policy.block(client.peer_ip, headers)
        stage = "block"
        if refused is None and rule is None:
            refused, stage = 404, "route"
        if refused is None and rule is not None:
            refused, stage = self.policy.admit(rule, headers), "admit"
        if refused is not None or rule is None:
            if self.recorder.detailed:
                record_refusal(_proxy(self), client, req.request_id, stage, refused or 404, now)
            self.unhold(client, req.size)
            self._answer_locally(client, req, refused or 404, ERROR_RESPONSE_SIZE, now)
            return
        cache = self.cache
        if cache is not None and self._cacheable(req, rule):
            hit = cache.lookup(req.method, req.path, now)
            req.ctx.cache_hit = hit is not None
            if hit is not None:
                if self.recorder.detailed:
                    record_cache_hit(_proxy(self), client, req, now)
                self.unhold(client, req.size)
                self._reply(client, HttpResponse(req, hit.status, hit.size, self.name), now)
                return
        elif cache is not None:
            req.ctx.cache_hit = False
        self._attempts[req.request_id] = Attempt(rule, headers)
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

    def _forward(self, client: ClientSide, req: HttpRequest, now: float) -> None:
        """Pick a backend for one try of ``req`` and write it to a pooled connection."""
        attempt = self._attempts[req.request_id]
        attempt.tries += 1
        req.ctx.upstream_tries = attempt.tries
        rule = attempt.rule
        candidates = self.candidates(rule, now, attempt.tried)
        detailed = self.recorder.detailed
        if detailed:
            record_skips(_proxy(self), client, req.request_id, rule, candidates, now)
        if not candidates:
            self._give_up(client, req, 503, now)
            return
        affinity = self.affinity
        backend = None if affinity is None else affinity.choose(attempt.headers, candidates)
        if backend is None:
            algorithm = rule.algorithm
            key = self._key(client.peer_ip, attempt.headers) if algorithm.uses_key else None
            backend = algorithm.pick(candidates, now, key)
        breakers = self.breakers
        if breakers is not None and not breakers.admits(
            backend, self.backends, self.pools, self.pool_max
        ):
            self._give_up(client, req, 503, now)  # overflow: refused at once
            return
        attempt.tried.add(backend.name)
        pool = self.pools[backend.name]
        if detailed:
            record_pick(_proxy(self), client, req, (rule, attempt.tries), backend, candidates, now)
        backend.active += 1
        self._place(client, req, rule, backend, pool, now)

    def _place(
        self,
        client: ClientSide,
        req: HttpRequest,
        rule: Rule,
        backend: BackendRef,
        pool: Pool,
        now: float,
    ) -> None:
        """Write ``req`` to an idle connection of ``pool``, a new one, or make it wait."""
        if pool.idle:
            req.ctx.new_upstream = False
            pool.idle.pop().assign(client, req, rule, now)
        elif self.pool_max is None or pool.open < self.pool_max:
            req.ctx.new_upstream = True
            upstream = self._open(backend, now)
            if upstream is None:
                backend.active -= 1
                self._give_up(client, req, 503, now)
                return
            upstream.assign(client, req, rule, now)
        else:
            req.ctx.new_upstream = False  # it waits for a pooled connection to free up
            pool.waiters.append((client, req, rule))

    def outgoing(self, req: HttpRequest, client: ClientSide | None) -> HttpRequest:
        """``req`` as written to a backend: with the client-address headers configured."""
        if client is None:
            return req
        return forwarded_request(
            req, client.peer_ip, self.inside,
            xff=self.forward_xff, forwarded=self.forward_rfc7239,
        )  # fmt: skip

    def _answer_locally(
        self, client: ClientSide, req: HttpRequest, status: int, size: int, now: float
    ) -> None:
        self.local_answers[status] = self.local_answers.get(status, 0) + 1
        self._reply(client, HttpResponse(req, status, size, self.name), now)

    def _give_up(self, client: ClientSide, req: HttpRequest, status: int, now: float) -> None:
        self._done(req)
        self.unhold(client, req.size)
        self._answer_locally(client, req, status, ERROR_RESPONSE_SIZE, now)
