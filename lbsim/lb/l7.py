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

This module is the proxy itself (wiring, interface, changes); its client
connections, buffers and limits are in :mod:`lbsim.lb.l7_buffers`, its settings
in :mod:`lbsim.lb.l7_config`, the way of a request from parse to backend (and
the fused common case) in :mod:`lbsim.lb.l7_requests`, its pooled backend
connections in :mod:`lbsim.lb.l7_upstream`, its retries and outlier hooks in
:mod:`lbsim.lb.l7_retries`, its handling of responses in :mod:`lbsim.lb.l7_responses`.
"""

from __future__ import annotations

from functools import partial

import simpy

from lbsim.app.tls import TlsEndpoint
from lbsim.host.channel import TlsChannel
from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.lb.affinity import CookieAffinity
from lbsim.lb.algorithms import Algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Balancer, Wiring, go_silent
from lbsim.lb.breaker import CircuitBreakers
from lbsim.lb.cache import ResponseCache
from lbsim.lb.deadlines import DeadlineQueue
from lbsim.lb.l7_buffers import ClientSide, RequestBuffers
from lbsim.lb.l7_config import (
    L7Costs,
    Limits,
    cache_of,
    costs_of,
    head_bytes,
    key_function,
    limits_of,
    policy_of,
    router_of,
)
from lbsim.lb.l7_requests import Requests
from lbsim.lb.l7_responses import Responses
from lbsim.lb.l7_retries import Attempt, Retries
from lbsim.lb.l7_upstream import Pool, Upstream, UpstreamPools, reused
from lbsim.lb.load_weights import ReportedWeights
from lbsim.lb.outlier import OutlierDetector
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import Router
from lbsim.net.addresses import LB_INSIDE, VIP, VIP_PORT, VIP_TLS_PORT
from lbsim.records import Recorder
from lbsim.scenario.faults import RetryConfig
from lbsim.scenario.features import TlsServerConfig
from lbsim.transport.tcp import TcpConnection

__all__ = ["ClientSide", "L7Balancer", "L7Costs", "Limits", "head_bytes"]


class L7Balancer(RequestBuffers, Requests, UpstreamPools, Retries, Responses, Balancer):
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
        fast_path: Requests take the fused common path (:mod:`lbsim.lb.l7_requests`):
            nothing is configured that refuses at the edge, reads headers or keeps
            state per try.
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
        tls: TlsServerConfig | None = None,
        retries: RetryConfig | None = None,
        outlier: OutlierDetector | None = None,
        panic_threshold: float | None = None,
        forwarded: tuple[bool, bool] = (True, False),
        vip: int = VIP,
        inside: int = LB_INSIDE,
    ) -> None:
        self.env = env
        self.vip = vip
        self.inside = inside
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
        self._key = key_function(hash_on)
        self._key_reads_headers = hash_on != "client_ip"
        self.buffered_bytes = 0
        self.peak_buffer = 0
        self.local_answers: dict[int, int] = {}
        self._upstream_ids = 0
        self.upstreams: set[Upstream] = set()
        self._idle_deadlines = DeadlineQueue(env, self.expire_idle, reused)
        self.backends = router.backends
        self.pools = {b.name: Pool() for b in self.backends}
        self.tls = tls
        self.retries = retries
        self.per_try_timeout: float | None = retries.per_try_timeout if retries else None
        self.outlier = outlier
        self.panic_threshold = panic_threshold
        #: Client-address headers added to forwarded requests (X-Forwarded-For, RFC 7239).
        self.forward_xff, self.forward_rfc7239 = forwarded
        self.impaired = False  # some backend was marked down, ejected or drained
        self.breakers: CircuitBreakers | None = None  # limits per backend group
        self.affinity: CookieAffinity | None = None  # inserted-cookie affinity
        self.reports: ReportedWeights | None = None  # weights from load reports
        self._attempts: dict[str, Attempt] = {}
        self.retries_active = 0
        self.retried = 0
        #: TLS handshakes terminated here (client side): count, resumed, CPU seconds.
        self.tls_stats: dict[str, float] = {}
        stack.listen(vip, VIP_PORT, partial(ClientSide, self))
        if tls is not None:
            stack.listen(vip, VIP_TLS_PORT, self._accept_tls)
        self.pool_warm = pool_warm
        self.client_receive = self.backend_receive = stack.receive
        for backend in self.backends:
            for _ in range(pool_warm):
                self._open(backend, env.now)
        self.fast_path = self.common_case()

    @classmethod
    def from_wiring(cls, wiring: Wiring) -> L7Balancer:
        """The proxy a scenario's balancer entry describes, wired in."""
        cfg = wiring.config
        fwd = cfg.forwarded
        lb = cls(
            wiring.env,
            cfg.name,
            wiring.terminating_stack(),
            router_of(wiring),
            cpu=wiring.cpu,
            costs=costs_of(wiring),
            pool_max=cfg.pool.max,
            pool_warm=cfg.pool.warm,
            idle_timeout=cfg.pool.idle_timeout,
            recorder=wiring.recorder,
            policy=policy_of(wiring),
            cache=cache_of(wiring),
            limits=limits_of(wiring),
            streamed=cfg.response_mode == "streamed",
            hash_on=cfg.hash_on or "client_ip",
            tls=cfg.tls,
            retries=cfg.retries,
            panic_threshold=cfg.panic_threshold,
            forwarded=(fwd.x_forwarded_for, fwd.forwarded) if fwd else (False, False),
            vip=wiring.vip,
            inside=wiring.inside,
        )
        od = cfg.outlier_detection
        if od is not None:  # over the proxy's own list, which scale out extends
            lb.outlier = OutlierDetector(
                lb.backends, od.consecutive_5xx, od.base_ejection, od.max_ejection_percent
            )
        if cfg.circuit_breakers:
            lb.breakers = CircuitBreakers(cfg.circuit_breakers)
        if cfg.affinity_cookie is not None:
            lb.affinity = CookieAffinity(cfg.affinity_cookie)
        if cfg.weights_from_reports:
            lb.reports = ReportedWeights()
        lb.fast_path = lb.common_case()
        return lb

    def common_case(self) -> bool:
        """Whether every request may take the fused path (:mod:`lbsim.lb.l7_requests`).

        True when nothing is configured that could refuse a request at the edge,
        read its header fields (to route, hash or stamp it) or keep state per try:
        no blocking, tokens or user lists, no cache, retries, circuit breakers,
        cookie affinity or load reports, no ``hash_on`` a header or cookie, and no
        detailed decision records.
        """
        return (
            self.retries is None
            and self.cache is None
            and self.affinity is None
            and self.reports is None
            and self.breakers is None
            and not self._key_reads_headers
            and not self.recorder.detailed
            and self.policy.refuses_none(self.router.rules)
        )

    def _accept_tls(self, conn: TcpConnection) -> TlsChannel:
        """A client connection to port 443: TLS ends here, with the balancer's certificate."""
        client = ClientSide(self, conn)
        tls = self.tls
        assert tls is not None
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

    # ------------------------------------------------------------ interface

    @property
    def table_entries(self) -> int:
        """TCP connections the proxy holds (both sides, TIME_WAIT included)."""
        return len(self.stack.conns)

    @property
    def peak_entries(self) -> int:
        """Most TCP connections held at once."""
        return self.stack.peak_conns

    def discard(self) -> None:
        """Drop the upstream pools: each upstream connection refers back to the proxy."""
        super().discard()
        self.pools.clear()
        self.upstreams.clear()
        self._idle_deadlines.discard()

    def stacks(self) -> list[TcpStack]:
        """The proxy's one stack (both sides)."""
        return [self.stack]

    def health_stack(self) -> TcpStack:
        """Probes leave from the proxy's own stack."""
        return self.stack

    def counters(self) -> dict[str, float]:
        """Peaks, TLS work terminated here, retries and outlier ejections."""
        out = super().counters()
        for key, value in self.tls_stats.items():
            out[f"lb.tls_{key}"] = value
        out["lb.retries"] = self.retried
        if self.outlier is not None:
            out["lb.ejections"] = self.outlier.ejections
        if self.breakers is not None:
            out.update(self.breakers.counters())
        if self.affinity is not None:
            out.update(self.affinity.counters())
        if self.reports is not None:
            out.update(self.reports.counters())
        return out

    def backends_changed(self, *_args: object) -> None:
        """A backend was drained or removed."""
        self.impaired = True

    def add_backend(self, backend: BackendRef) -> bool:
        """Scale out: the new backend joins every rule over its group."""
        self.stack.add_route(backend.ip, backend.link, backend.mss)
        for rule in self.router.rules:
            if rule.group == backend.group or (
                rule.group == "*" and any(b.group == backend.group for b in rule.backends)
            ):
                rule.backends.append(backend)
                rule.algorithm.backend_joined(backend.name, self.env.now)
        self.backends.append(backend)
        self.pools[backend.name] = Pool()
        for _ in range(self.pool_warm):
            self._open(backend, self.env.now)
        return True

    def algorithms(self) -> list[Algorithm]:
        """One algorithm per route, each once."""
        return list({id(r.algorithm): r.algorithm for r in self.router.rules}.values())

    def algorithms_of(self, backend: BackendRef) -> list[Algorithm]:
        """The algorithms of the routes whose group holds ``backend``, each once."""
        rules = [r for r in self.router.rules if backend in r.backends]
        return list({id(r.algorithm): r.algorithm for r in rules}.values())

    def restart(self, now: float, downtime: float) -> None:
        """The balancer restarts: every TCP connection and pooled connection is lost.

        Clients' later segments find no connection and are reset; requests in
        progress are lost with them.
        """
        self.stack.forget_all()
        for upstream in self.upstreams:
            upstream.rule = None  # a response still being decrypted completes no try
        self.upstreams.clear()
        for name in self.pools:
            self.pools[name] = Pool()
        for backend in self.backends:
            backend.active = 0
        self._attempts.clear()
        self.retries_active = 0
        self.buffered_bytes = 0
        for backend in self.backends:
            for _ in range(self.pool_warm):
                self._open(backend, now)
        go_silent(self.env, self.stack, now, downtime)
