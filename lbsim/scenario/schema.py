"""The scenario schema: frozen pydantic models that the engine builds a run from.

Theory of operation:
    A scenario file becomes a dict (YAML), then one immutable :class:`Scenario`. The
    field names here are the contract with the engine; the field types (``fields.py``)
    convert text with units into seconds, bytes, bits per second and per-second rates,
    and distribution text into distribution objects.

    Validation happens in three rings. Each field checks itself (a unit, a range).
    Each model then checks combinations of its own keys: a layer-4 balancer cannot
    have routes, a client group is either closed loop (``count``) or open loop
    (``rate``). Finally :class:`Scenario` checks references across the file: every
    group a balancer names exists, names are unique, the warm-up ends before the run.
    Errors that concern a particular key are raised as ``KeyedValueError`` so the
    message points at that key.

    Defaults that depend on other keys (the NAT mode and the CPU costs of a balancer
    depend on its layer; a client group's number of hosts depends on its loop type)
    are filled in during validation, so a validated scenario is fully resolved: the
    engine never sees "default" placeholders, and ``to_yaml()`` shows every value used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lbsim.scenario.algorithm_names import ALGORITHM_NAMES
from lbsim.scenario.bounds import check_bound, check_param_bounds
from lbsim.scenario.breakers import CircuitBreakerConfig
from lbsim.scenario.distributions import Constant
from lbsim.scenario.dump import dump_yaml
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.faults import (
    EventConfig,
    HealthCheckConfig,
    OutlierConfig,
    RetryConfig,
    check_event_targets,
)
from lbsim.scenario.features import (
    AuthConfig,
    BlockConfig,
    CacheConfig,
    KeyType,
    LimitsConfig,
    TlsClientConfig,
    TlsServerConfig,
)
from lbsim.scenario.fields import (
    ArrivalRate,
    Bandwidth,
    Duration,
    Headers,
    HttpMethod,
    Identifier,
    NonNegativeInt,
    Params,
    PortRange,
    PositiveDuration,
    PositiveFloat,
    PositiveInt,
    RequestPath,
    Size,
    SizeDistribution,
    Text,
    TimeDistribution,
    UrlPrefix,
)
from lbsim.scenario.figure_names import DEFAULT_FIGURES, FIGURE_NAMES
from lbsim.scenario.topology import TopologyConfig
from lbsim.scenario.units import format_duration, parse_duration, parse_size

__all__ = [
    "L4_ALGORITHMS",
    "L7_ALGORITHMS",
    "BackendGroup",
    "BalancerConfig",
    "ClientGroup",
    "CostConfig",
    "LinkConfig",
    "NetworkConfig",
    "PoolConfig",
    "RequestSpec",
    "Route",
    "RouteMatch",
    "Scenario",
    "TcpConfig",
]

# The algorithm names are defined once, by the algorithm registry.
L4_ALGORITHMS: Final = ALGORITHM_NAMES[4]
"""Algorithms a layer-4 balancer can use to place a new connection."""

L7_ALGORITHMS: Final = ALGORITHM_NAMES[7]
"""Algorithms a layer-7 balancer can use to place each request."""

OPEN_LOOP_DEFAULT_HOSTS: Final = 64
"""Client addresses of an open-loop client group unless ``hosts`` is given."""

# Default CPU cost of a balancer, by layer, as scenario text (so that a partly given
# `costs` mapping can be completed and validated like user input).
# - per_segment: kernel L4 forwarding (Linux IPVS) handles about 1 million packets per
#   second per core, i.e. ~1 us per segment; an L7 proxy also copies the payload
#   through user space, so we take twice that.
# - per_request: "an L7 proxy's CPU per HTTP request is tens to hundreds of
#   microseconds (~32 us/request for a tuned HAProxy)" (docs/validation.md, Costs); an L4
#   balancer never parses requests, so its per-request cost is zero.
# - per_header_byte: parsing scales with the header bytes; 25 ns/byte puts a typical
#   400-byte request head at ~30 us in all, HAProxy's figure above (our assumption).
# - per_route_rule (0.2 us) and per_cache_lookup (1 us): a prefix/header comparison
#   and a hash lookup with an LRU update; small next to parsing (our assumption).
LAYER_DEFAULT_COSTS: Final[dict[int, dict[str, str]]] = {
    4: {
        "per_segment": "1us",
        "per_request": "0s",
        "per_header_byte": "0s",
        "per_route_rule": "0s",
        "per_cache_lookup": "0s",
    },
    7: {
        "per_segment": "2us",
        "per_request": "20us",
        "per_header_byte": "25ns",
        "per_route_rule": "0.2us",
        "per_cache_lookup": "1us",
    },
}

#: HTTP methods whose requests carry no body: all their bytes are header bytes.
BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})

#: Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
DEFAULT_SOURCE_PORTS: Final = (32768, 60999)

#: Layer-7-only balancer keys, and why a layer-4 balancer cannot have them.
_L4_BLIND: Final = {
    "tls": "a layer-4 balancer passes TLS through unopened: the certificate stays on "
    "the backends (concept C10); set tls_key on backend groups instead, or use layer: 7",
    "limits": "a layer-4 balancer forwards segments as they arrive and never holds a "
    "request (concept C9), so there is nothing to limit; use layer: 7",
    "cache": "a layer-4 balancer cannot read responses, so it cannot cache them "
    "(concept C14); use layer: 7",
    "auth": "a layer-4 balancer cannot read headers or tokens, so it cannot "
    "authenticate (concept C14); use layer: 7",
    "block": "a layer-4 balancer sees only addresses and ports, so it cannot block by "
    "header or user agent (concept C14); use layer: 7",
    "response_mode": "a layer-4 balancer never buffers responses; use layer: 7",
    "hash_on": "a layer-4 balancer cannot read headers or cookies; its hashing "
    "algorithms use the client address and port",
    "outlier_detection": "a layer-4 balancer cannot see HTTP status codes, so it cannot "
    "eject backends that answer errors (concept C14); use health_check, or layer: 7",
    "retries": "a layer-4 balancer cannot retry a request: it never sees one, only a "
    "connection's bytes (the client must retry); use layer: 7",
    "panic_threshold": "applies only to layer-7 balancers",
    "weights_from_reports": "a layer-4 balancer cannot read the load reports backends "
    "put in response headers (concept C14); use layer: 7",
    "affinity_cookie": "a layer-4 balancer cannot read or write HTTP headers, so it can "
    "neither insert a cookie nor read one back (concept C14); its stickiness is per "
    "connection (source_hash for per-address); use layer: 7",
    "circuit_breakers": "a layer-4 balancer never sees requests, only connections' bytes, "
    "so it cannot count requests in progress nor answer 503 (concept C14); use layer: 7",
    "forwarded": "a layer-4 balancer never writes into a request; in nat and dsr modes the "
    "backend sees the client's own address; use layer: 7",
}

#: Algorithms whose picks follow the weights that load reports set.
_REPORT_WEIGHTED: Final = ("weighted_round_robin", "round_robin")

_C6_EXPLANATION: Final = (
    "a layer-4 balancer sees only IP addresses and ports, so it cannot route on paths, "
    "methods or headers (concept C6); use layer: 7"
)


class _Model(BaseModel):
    """Base of all scenario models: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TcpConfig(_Model):
    """TCP parameters shared by every connection in the run.

    Attributes:
        initial_window: Initial congestion window, in segments (RFC 6928: 10).
        receive_window: Receiver's advertised window, bytes.
        initial_rto: Retransmission timeout before any RTT sample, seconds.
        min_rto: Lower bound of the retransmission timeout, seconds.
        max_rto: Upper bound of the retransmission timeout, seconds.
        time_wait: How long a closed connection's port stays unusable, seconds.
    """

    initial_window: PositiveInt = 10
    receive_window: Size = parse_size("4MiB")
    initial_rto: PositiveDuration = parse_duration("1s")
    min_rto: PositiveDuration = parse_duration("200ms")
    max_rto: PositiveDuration = parse_duration("60s")
    time_wait: Duration = parse_duration("60s")

    @model_validator(mode="after")
    def _check_timeouts(self) -> Self:
        if self.receive_window <= 0:
            raise KeyedValueError("receive_window", "must be greater than 0")
        if self.min_rto > self.max_rto:
            raise KeyedValueError(
                "min_rto", f"must not exceed max_rto ({format_duration(self.max_rto)})"
            )
        if not self.min_rto <= self.initial_rto <= self.max_rto:
            raise KeyedValueError(
                "initial_rto",
                f"must lie between min_rto ({format_duration(self.min_rto)}) "
                f"and max_rto ({format_duration(self.max_rto)})",
            )
        return self


class LinkConfig(_Model):
    """One network link.

    Attributes:
        latency: One-way propagation delay, seconds.
        bandwidth: Transmission rate, bits per second.
        mtu: Largest IP packet, bytes (MSS = mtu - 40).
        queue: Bytes the transmit queue may hold before it drops.
    """

    latency: Duration
    bandwidth: Bandwidth
    mtu: int = Field(default=1500, ge=576, le=65535, strict=True)
    queue: Size = parse_size("1MB")
    loss: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_queue(self) -> Self:
        check_bound("bandwidth", "bandwidth", self.bandwidth)
        if self.queue < self.mtu:
            raise KeyedValueError("queue", f"must hold at least one packet (mtu = {self.mtu}B)")
        return self


class NetworkConfig(_Model):
    """The two kinds of link in the topology.

    Attributes:
        client_link: Between each client host and the balancer.
        backend_link: Between the balancer and each backend.
    """

    client_link: LinkConfig
    backend_link: LinkConfig


class BackendGroup(_Model):
    """A group of identical backend servers.

    Attributes:
        group: Group name; instances are named ``{group}-1`` ... ``{group}-{count}``.
        count: Number of servers.
        workers: Requests one server works on at the same time.
        service_time: Time a worker spends on one request, seconds.
        weight: Relative capacity, for weighted algorithms.
        queue_limit: Requests that may wait for a worker; None means unbounded.
        io_model: ``event`` (a worker is taken only once the whole request has
            arrived, like an event-driven server) or ``blocking`` (a worker is tied
            up from a request's first byte until its response is written, like a
            thread-per-connection server: slow senders hold workers).
        tls_key: Certificate key type, used when TLS ends at the backend (layer-4
            passthrough, or a layer-7 balancer that re-encrypts).
        read_only: A read replica: writes (POST, PUT, PATCH, DELETE)
            are served and answered ``405`` (the request fails as an ``error``).
        warmup_penalty: Cold start: a server's service times are this many times
            longer when it starts (added by scale out, or recovered after a crash;
            servers present at the start of the run are warm),
            the excess decaying linearly to none over ``warmup_window``.
        warmup_window: How long a server takes to warm up (with ``warmup_penalty``).
        load_report_period: Servers put their utilisation and request rate,
            measured over periods this long, on every response (ORCA-style
            ``Endpoint-Load-Metrics`` header); None reports nothing.
    """

    group: Identifier
    count: PositiveInt = 1
    workers: PositiveInt = 1
    service_time: TimeDistribution
    weight: PositiveFloat = 1.0
    queue_limit: NonNegativeInt | None = None
    io_model: Literal["event", "blocking"] = "event"
    tls_key: KeyType = "ecdsa_p256"
    read_only: bool = False
    # --- cold start (warm-up penalty of a new server) ---
    warmup_penalty: float = Field(default=1.0, ge=1.0, le=100.0)
    warmup_window: Duration = 0.0
    # --- load reports (read by a layer-7 balancer with weights_from_reports) ---
    load_report_period: PositiveDuration | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        check_bound("count", "backends", self.count)
        check_bound("workers", "workers", self.workers)
        return self

    @model_validator(mode="after")
    def _check_warmup(self) -> Self:
        if self.warmup_penalty != 1.0 and self.warmup_window <= 0.0:
            raise KeyedValueError(
                "warmup_window",
                "must be a duration > 0 when warmup_penalty is set: the time over which "
                "a cold server's extra service time fades out (e.g. 10s)",
            )
        return self

    def instance_names(self) -> tuple[str, ...]:
        """Names of this group's servers: ``web-1``, ``web-2``, ...

        Returns:
            ``count`` names in order.
        """
        return tuple(f"{self.group}-{index}" for index in range(1, self.count + 1))


class RequestSpec(_Model):
    """One kind of request in a client group's mix.

    Attributes:
        method: HTTP method.
        path: URL path; ``{n}`` is replaced by a random id in 1..``ids``.
        weight: Relative frequency within the mix.
        size: Request bytes on the wire.
        response: Response bytes on the wire.
        service_time: Overrides the backend group's service time for this request.
        ids: Range of ids that replace ``{n}``.
        zipf: Popularity of the ids: None draws them uniformly, a number ``s``
            draws id ``k`` with probability proportional to ``1 / k**s`` (a few hot
            objects, a long tail: what makes caches work).
        headers: Extra header fields of this request.
    """

    method: HttpMethod = "GET"
    path: RequestPath
    weight: PositiveFloat = 1.0
    size: SizeDistribution = Constant(400.0, kind="size")
    response: SizeDistribution
    service_time: TimeDistribution | None = None
    ids: PositiveInt = 1000
    zipf: PositiveFloat | None = None
    headers: Headers = ()


class ClientGroup(_Model):
    """A population of clients with one workload.

    Closed loop (``count``): each of ``count`` users repeatedly connects, sends
    ``requests_per_connection`` requests with think times between them, and closes.
    Open loop (``rate``): sessions (connections) arrive as a Poisson process.

    Attributes:
        name: Group name.
        count: Number of users (closed loop).
        rate: Session arrival rate, per second (open loop).
        hosts: Number of client IP addresses.
        protocol: ``http`` (HTTP/1.1: one request at a time per connection),
            ``raw`` (request/response byte exchanges that are not HTTP, e.g. a
            database protocol) or ``multiplexed`` (many concurrent requests
            interleaved on one long-lived connection, like gRPC over HTTP/2).
        requests_per_connection: Requests sent on one connection (keep-alive).
        think_time: Pause before each request of a user, seconds.
        tls: TLS on its connections (``"1.2"``, ``"1.3"`` or a mapping with
            ``version`` and ``resumption``); None or false for plain TCP.
        link: This group's access link, replacing ``network.client_link`` for it
            (e.g. slow mobile clients next to broadband ones).
        user: The identity its token stands for (authorization rules name users).
        token: Its Authorization header: ``valid``, ``invalid`` or ``none``.
        user_agent: Its User-Agent header.
        headers: Extra header fields on all its requests; ``{user}`` in a value is
            replaced by the id of the user or session sending it.
        timeout: A request not answered this long after it was issued is given up
            (outcome ``timeout``, the connection is reset); None waits forever.
        retries: Times a failed request (error, timeout, rejected) is tried again, on a new
            connection; its one record counts the attempts.
        streams: Multiplexed, closed loop: request loops running at once on each
            user's connection.
        connections: Multiplexed, open loop: long-lived connections the Poisson
            requests are spread over (default: ``hosts``).
        max_connection_age: Multiplexed only: a connection older than this is
            drained like after an HTTP/2 GOAWAY (its open requests finish on it,
            new ones open a new connection); None keeps connections for the run.
        max_connection_age_jitter: Fraction by which each connection's age limit
            is spread at random (uniform within plus or minus it), so that
            connections opened together do not all cycle at the same moment.
        requests: The request mix.
    """

    name: Identifier
    count: PositiveInt | None = None
    rate: ArrivalRate | None = None
    hosts: PositiveInt = Field(default=None, validate_default=True)
    protocol: Literal["http", "raw", "multiplexed"] = "http"
    requests_per_connection: PositiveInt = 1
    think_time: TimeDistribution = Constant(0.0)
    streams: PositiveInt = 1
    connections: PositiveInt | None = None
    tls: TlsClientConfig | None = None
    link: LinkConfig | None = None
    user: Identifier | None = Field(default=None, validate_default=True)
    token: Literal["valid", "invalid", "none"] = "valid"
    user_agent: str = Field(default="lbsim/0.1", strict=True, min_length=1)
    headers: Headers = ()
    timeout: PositiveDuration | None = None
    retries: NonNegativeInt = 0
    max_connection_age: PositiveDuration | None = None
    max_connection_age_jitter: float = Field(default=0.1, ge=0.0, lt=1.0)
    requests: tuple[RequestSpec, ...] = Field(min_length=1)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_shorthand(cls, value: object) -> object:
        if value is False:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return {"version": str(value)}
        return value

    @field_validator("user", mode="before")
    @classmethod
    def _default_user(cls, value: object, info: ValidationInfo) -> object:
        return info.data.get("name") if value is None else value

    @field_validator("hosts", mode="before")
    @classmethod
    def _default_hosts(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            return value
        count = info.data.get("count")
        return count if count is not None else OPEN_LOOP_DEFAULT_HOSTS

    @model_validator(mode="after")
    def _check_loop(self) -> Self:
        for key, bound in (
            ("count", "users"),
            ("hosts", "hosts"),
            ("rate", "rate"),
            ("streams", "streams"),
            ("connections", "connections"),
            ("retries", "retries"),
        ):
            check_bound(key, bound, getattr(self, key))
        if self.count is not None and self.rate is not None:
            raise ValueError(
                "give either count (closed loop: a number of users) or rate "
                "(open loop: sessions per second), not both"
            )
        if self.count is None and self.rate is None:
            raise ValueError(
                "give either count (closed loop: a number of users, e.g. 50) or rate "
                '(open loop: sessions per second, e.g. "80/s")'
            )
        if self.streams != 1 and (self.protocol != "multiplexed" or self.count is None):
            raise KeyedValueError(
                "streams",
                "applies only to multiplexed closed-loop clients (protocol: multiplexed "
                "with count); HTTP/1.1 and raw connections carry one request at a time",
            )
        if self.connections is not None and (self.protocol != "multiplexed" or self.rate is None):
            raise KeyedValueError(
                "connections",
                "applies only to multiplexed open-loop clients (protocol: multiplexed "
                "with rate): the Poisson requests share that many long-lived connections",
            )
        if self.max_connection_age is not None and self.protocol != "multiplexed":
            raise KeyedValueError(
                "max_connection_age",
                "applies only to multiplexed clients (protocol: multiplexed): an HTTP/1.1 "
                "or raw connection is already replaced every requests_per_connection "
                "requests, and there are no streams to drain",
            )
        return self


class RouteMatch(_Model):
    """Conditions of a layer-7 route, all of which must hold; empty matches everything.

    Attributes:
        path_prefix: The request path starts with this.
        path: The request path is exactly this (after ``{n}`` was filled in).
        methods: The request method is one of these.
        headers: The request carries these header fields with these values.
    """

    path_prefix: UrlPrefix | None = None
    path: UrlPrefix | None = None
    methods: tuple[HttpMethod, ...] | None = Field(default=None, min_length=1)
    headers: Headers = ()


class Route(_Model):
    """A layer-7 routing rule: requests that match go to one backend group.

    Attributes:
        match: The conditions (all must hold).
        group: The backend group to send matching requests to.
        auth: Whether requests on this route need a valid token; None follows the
            balancer's ``auth``.
        allow: Users allowed on this route (others get 403); None allows everyone.
        public: Its responses are the same for every user (as if the backend sent
            ``Cache-Control: public``), so the balancer's cache may keep them even
            when the request carried a token. Without it, responses to requests
            with an Authorization header are never cached (RFC 9111, 3.5).
    """

    match: RouteMatch = RouteMatch()
    group: Identifier
    auth: bool | None = None
    allow: tuple[Identifier, ...] | None = None
    public: bool = False


class PoolConfig(_Model):
    """Upstream connections a balancer keeps to each backend.

    Attributes:
        warm: Connections opened to each backend at time 0.
        max: Most connections to one backend; None means unlimited.
        idle_timeout: An idle pooled connection is closed after this long, seconds.
        refill: Layer-4 proxy: open a replacement whenever a warm connection is
            handed to a client, so the pool stays at ``warm``.
    """

    warm: NonNegativeInt = 0
    max: PositiveInt | None = None
    idle_timeout: PositiveDuration = parse_duration("60s")
    refill: bool = True

    @model_validator(mode="after")
    def _check_warm(self) -> Self:
        check_bound("warm", "pool_warm", self.warm)
        check_bound("max", "pool_max", self.max)
        if self.max is not None and self.warm > self.max:
            raise KeyedValueError("warm", f"must not exceed max ({self.max})")
        return self


class TableTimeouts(_Model):
    """How long a connection-table entry survives without traffic, per state.

    Defaults are Linux IPVS's (docs/validation.md): established 900 s, SYN received
    60 s, FIN wait 120 s, TIME_WAIT 120 s, close (after a reset) 10 s.
    """

    established: PositiveDuration = parse_duration("900s")
    syn_recv: PositiveDuration = parse_duration("60s")
    fin_wait: PositiveDuration = parse_duration("120s")
    time_wait: PositiveDuration = parse_duration("120s")
    close: PositiveDuration = parse_duration("10s")


class TableConfig(_Model):
    """A layer-4 balancer's connection table.

    Attributes:
        capacity: Most entries at once; a new connection beyond it is refused with
            RST. None means unlimited.
        timeouts: Idle timeouts per state.
    """

    capacity: PositiveInt | None = None
    timeouts: TableTimeouts = TableTimeouts()


class CostConfig(_Model):
    """CPU time a balancer spends per unit of work (defaults depend on the layer).

    Attributes:
        per_segment: CPU per TCP segment received or sent, seconds.
        per_request: CPU per HTTP request parsed (fixed part), seconds.
        per_header_byte: CPU per byte of request head parsed, seconds.
        per_route_rule: CPU per routing rule evaluated, seconds.
        per_cache_lookup: CPU per cache lookup, seconds.
    """

    per_segment: Duration
    per_request: Duration
    per_header_byte: Duration = 0.0
    per_route_rule: Duration = 0.0
    per_cache_lookup: Duration = 0.0


class ForwardedConfig(_Model):
    """Client-address headers a layer-7 balancer adds to the requests it forwards.

    A proxy opens its own connections to the backends, so a backend sees the
    proxy's address as the peer; these headers carry the client's address to it.
    Each one is appended to (a list grows by one address per proxy tier).

    Attributes:
        x_forwarded_for: Add ``X-Forwarded-For: <client ip>`` (the de facto header).
        forwarded: Add the standard ``Forwarded: for=<client ip>;by=<proxy ip>``
            (RFC 7239).
    """

    x_forwarded_for: bool = True
    forwarded: bool = False


class BalancerConfig(_Model):
    """One balancer variant; every variant runs on the same workload.

    Attributes:
        name: Variant name.
        layer: 4 (connection-level) or 7 (request-level).
        algorithm: Backend choice algorithm; see ``L4_ALGORITHMS``/``L7_ALGORITHMS``.
        mode: Layer-4 forwarding mode: ``nat`` (rewrite addresses per packet),
            ``proxy`` (splice two TCP connections, warm pool) or ``dsr`` (direct
            server return); None at layer 7.
        params: Algorithm parameters (e.g. ``table_size`` for maglev).
        groups: Backend groups to balance over; None means all.
        routes: Layer-7 routing rules, tried in order; None means no routing.
        pool: Upstream connection pool (layer-4 proxy and layer 7).
        table: Connection table (layer 4).
        mss_clamp: Rewrite the MSS option of SYNs to fit the smaller MTU (layer-4
            nat and dsr, which forward the client's own SYN).
        source_ports: Port range of the connections the balancer itself opens
            (layer-4 proxy and layer 7).
        tls: Layer 7: the certificate and TLS settings (TLS ends here).
        limits: Layer 7: request size, buffer memory and read-time limits.
        cache: Layer 7: response cache.
        auth: Layer 7: token authentication at the edge.
        block: Layer 7: clients, headers and user agents refused with 403.
        response_mode: Layer 7: ``buffered`` (hold a whole response, then send it)
            or ``streamed`` (relay response bytes as they arrive).
        hash_on: Layer 7 ``consistent_hash`` key: ``client_ip``, ``header:NAME``
            or ``cookie:NAME`` (session affinity).
        health_check: Active health checks of the backends (off if None).
        outlier_detection: Layer 7: eject backends that keep failing requests.
        retries: Layer 7: retry failed requests on another backend.
        panic_threshold: Layer 7: when fewer than this share of a route's
            backends are usable, ignore health and use them all (Envoy: 0.5).
        forwarded: Layer 7: the client-address headers it adds to forwarded
            requests (``X-Forwarded-For`` on by default).
        cores: CPU cores.
        costs: CPU cost model.
        circuit_breakers: Layer 7: concurrency limits per backend group (Envoy's
            ``max_requests`` / ``max_pending_requests``); overflow is answered 503.
        weights_from_reports: Layer 7: set each backend's weight from the load
            reports on its responses (Envoy client-side weighted round robin).
        affinity_cookie: Layer 7: name of a cookie the balancer inserts naming the
            backend (HAProxy ``cookie NAME insert``); requests returning it go to
            that backend while it is usable.
    """

    name: Identifier
    layer: Literal[4, 7]
    algorithm: str = Field(strict=True)
    mode: Literal["nat", "proxy", "dsr"] | None = Field(default=None, validate_default=True)
    params: Params = ()
    groups: tuple[Identifier, ...] | None = Field(default=None, min_length=1)
    routes: tuple[Route, ...] | None = Field(default=None, min_length=1)
    pool: PoolConfig = PoolConfig()
    table: TableConfig | None = Field(default=None, validate_default=True)
    mss_clamp: bool | None = Field(default=None, validate_default=True)
    source_ports: PortRange | None = Field(default=None, validate_default=True)
    tls: TlsServerConfig | None = None
    limits: LimitsConfig | None = None
    cache: CacheConfig | None = None
    auth: AuthConfig | None = None
    block: BlockConfig | None = None
    response_mode: Literal["buffered", "streamed"] | None = Field(
        default=None, validate_default=True
    )
    hash_on: str | None = Field(default=None, validate_default=True)
    health_check: HealthCheckConfig | None = None
    outlier_detection: OutlierConfig | None = None
    retries: RetryConfig | None = None
    panic_threshold: float | None = Field(default=None, ge=0, le=1, validate_default=True)
    forwarded: ForwardedConfig | None = Field(default=None, validate_default=True)
    cores: PositiveInt = 1
    costs: CostConfig = Field(default=None, validate_default=True)
    # --- circuit breakers (layer 7; refused at layer 4 through _L4_BLIND) ---
    circuit_breakers: dict[Identifier, CircuitBreakerConfig] | None = Field(
        default=None, min_length=1
    )
    # --- weights from load reports (layer 7; refused at layer 4 through _L4_BLIND) ---
    weights_from_reports: bool | None = None
    # --- cookie affinity (layer 7; refused at layer 4 through _L4_BLIND) ---
    affinity_cookie: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("mode", mode="before")
    @classmethod
    def _default_mode(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 4:
            return "nat"
        return value

    @field_validator("table", mode="before")
    @classmethod
    def _default_table(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 4:
            return {}
        return value

    @field_validator("mss_clamp", mode="before")
    @classmethod
    def _default_clamp(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 4 and info.data.get("mode") != "proxy":
            return True
        return value

    @field_validator("source_ports", mode="before")
    @classmethod
    def _default_ports(cls, value: object, info: ValidationInfo) -> object:
        opens_connections = info.data.get("layer") == 7 or info.data.get("mode") == "proxy"
        if value is None and opens_connections:
            return list(DEFAULT_SOURCE_PORTS)
        return value

    @field_validator("response_mode", mode="before")
    @classmethod
    def _default_response_mode(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 7:
            return "buffered"
        return value

    @field_validator("panic_threshold", mode="before")
    @classmethod
    def _default_panic(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 7:
            return 0.5
        return value

    @field_validator("forwarded", mode="before")
    @classmethod
    def _default_forwarded(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 7:
            return {}
        return value

    @field_validator("hash_on", mode="before")
    @classmethod
    def _default_hash_on(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("layer") == 7:
            return "client_ip"
        if isinstance(value, str) and not (
            value == "client_ip"
            or (value.startswith(("header:", "cookie:")) and len(value.split(":", 1)[1]) > 0)
        ):
            raise ValueError(f'expected "client_ip", "header:NAME" or "cookie:NAME", got "{value}"')
        return value

    @field_validator("costs", mode="before")
    @classmethod
    def _default_costs(cls, value: object, info: ValidationInfo) -> object:
        defaults = LAYER_DEFAULT_COSTS.get(info.data.get("layer", 4), LAYER_DEFAULT_COSTS[4])
        if value is None:
            return dict(defaults)
        if isinstance(value, Mapping):
            return {**defaults, **value}
        return value

    @model_validator(mode="after")
    def _check_layer(self) -> Self:
        check_bound("cores", "cores", self.cores)
        check_param_bounds(self.params)
        allowed = L4_ALGORITHMS if self.layer == 4 else L7_ALGORITHMS
        if self.algorithm not in allowed:
            other_layer, other = (7, L7_ALGORITHMS) if self.layer == 4 else (4, L4_ALGORITHMS)
            hint = f"; it exists at layer {other_layer}" if self.algorithm in other else ""
            raise KeyedValueError(
                "algorithm",
                f'unknown layer-{self.layer} algorithm "{self.algorithm}" '
                f"(expected one of: {', '.join(allowed)}){hint}",
            )
        if self.layer == 7 and self.mode is not None:
            raise KeyedValueError(
                "mode",
                "applies only to layer-4 balancers (a layer-7 balancer always terminates "
                "the client's connection); remove it or use layer: 4",
            )
        if self.layer == 4 and self.routes is not None:
            raise KeyedValueError("routes", _C6_EXPLANATION)
        if self.layer == 4:
            for key, why in _L4_BLIND.items():
                if getattr(self, key) is not None:
                    raise KeyedValueError(key, why)
            for key in ("per_header_byte", "per_route_rule", "per_cache_lookup"):
                if getattr(self.costs, key) != 0:
                    raise KeyedValueError(
                        ("costs", key), "must be 0 at layer 4: it never parses requests"
                    )
        if self.layer == 7 and self.table is not None:
            raise KeyedValueError(
                "table",
                "applies only to layer-4 balancers (a layer-7 balancer keeps TCP "
                "connections, not a NAT table); remove it or use layer: 4",
            )
        if self.mss_clamp is not None and (self.layer == 7 or self.mode == "proxy"):
            raise KeyedValueError(
                "mss_clamp",
                "applies only to layer-4 nat and dsr modes, which forward the client's "
                "own SYN; a proxy negotiates each side's MSS itself",
            )
        if self.source_ports is not None and self.layer == 4 and self.mode != "proxy":
            raise KeyedValueError(
                "source_ports",
                f"applies only to balancers that open connections of their own (layer-4 "
                f"proxy, layer 7); in {self.mode} mode the client's own connection "
                "reaches the backend",
            )
        if self.layer == 4 and self.mode != "proxy" and self.pool != PoolConfig():
            raise KeyedValueError(
                "pool",
                f"applies only to balancers that open connections of their own (layer-4 "
                f"proxy, layer 7); in {self.mode} mode there is no backend connection "
                "of the balancer's own to keep warm",
            )
        if self.layer == 4 and self.costs.per_request != 0:
            raise KeyedValueError(
                ("costs", "per_request"),
                "must be 0 at layer 4: a layer-4 balancer never parses requests, "
                "it only forwards segments",
            )
        if self.weights_from_reports and self.algorithm not in _REPORT_WEIGHTED:
            raise KeyedValueError(
                "weights_from_reports",
                f"needs an algorithm that balances by weight ({', '.join(_REPORT_WEIGHTED)}), "
                f'got "{self.algorithm}"',
            )
        if self.groups is not None:
            for index, group in enumerate(self.groups):
                if group in self.groups[:index]:
                    raise KeyedValueError(("groups", index), f'group "{group}" is listed twice')
        return self


class Scenario(_Model):
    """A complete, validated and fully resolved scenario.

    Attributes:
        name: Scenario name.
        description: One-line description.
        seed: Seed of all random streams of the run.
        duration: Arrivals stop at this time; in-flight work then drains, seconds.
        warmup: Initial period excluded from statistics, seconds.
        drain: How long after ``duration`` in-flight requests may still finish; the
            rest end as ``timeout``, seconds.
        tcp: TCP parameters.
        network: Links.
        backends: Backend groups.
        clients: Client groups.
        balancers: Balancer variants, each run on the same workload.
        events: Scheduled faults and changes (crashes, slowdowns, errors, loss,
            outages, balancer restarts, backends added or removed).
        figures: Figures ``lbsim run`` draws, by name (see ``figure_names.py``).
    """

    name: Text
    description: str = Field(default="", strict=True)
    seed: NonNegativeInt = 1
    duration: PositiveDuration
    warmup: Duration = 0.0
    drain: Duration = parse_duration("30s")
    tcp: TcpConfig = TcpConfig()
    network: NetworkConfig
    backends: tuple[BackendGroup, ...] = Field(min_length=1)
    clients: tuple[ClientGroup, ...] = Field(min_length=1)
    balancers: tuple[BalancerConfig, ...] = Field(min_length=1)
    events: tuple[EventConfig, ...] = ()
    fidelity: Literal["segment", "request"] = "segment"  # see docs/design.md "Request level"

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        check_bound("seed", "seed", self.seed)
        check_bound("duration", "duration", self.duration)
        if self.warmup >= self.duration:
            raise KeyedValueError(
                "warmup",
                f"must be shorter than duration ({format_duration(self.duration)}), "
                f"got {format_duration(self.warmup)}",
            )
        _check_unique("backends", [group.group for group in self.backends], "group")
        _check_unique("clients", [client.name for client in self.clients], "name")
        _check_unique("balancers", [balancer.name for balancer in self.balancers], "name")
        known = [group.group for group in self.backends]
        check_event_targets(
            self.events, list(self.backend_names()), known, [c.name for c in self.clients]
        )
        for index, balancer in enumerate(self.balancers):
            for position, group in enumerate(balancer.groups or ()):
                _check_group(("balancers", index, "groups", position), group, known)
            for position, route in enumerate(balancer.routes or ()):
                _check_group(("balancers", index, "routes", position, "group"), route.group, known)
            for group in balancer.circuit_breakers or {}:
                _check_group(("balancers", index, "circuit_breakers", group), group, known)
            if balancer.layer == 7 and balancer.tls is None:
                for client in self.clients:
                    if client.tls is not None:
                        raise KeyedValueError(
                            ("balancers", index, "layer"),
                            f'client group "{client.name}" uses TLS, and a layer-7 '
                            "balancer must decrypt requests to read them, so it needs "
                            "the certificate (concept C20): add tls: {key: ecdsa_p256} "
                            "to this balancer",
                        )
            if balancer.block is not None:
                names = [c.name for c in self.clients]
                for position, blocked in enumerate(balancer.block.clients):
                    if blocked not in names:
                        raise KeyedValueError(
                            ("balancers", index, "block", "clients", position),
                            f'no client group "{blocked}" (client groups: {", ".join(names)})',
                        )
            if balancer.layer == 7:
                for client in self.clients:
                    if client.protocol == "raw":
                        raise KeyedValueError(
                            ("balancers", index, "layer"),
                            f"a layer-7 balancer must parse every request to balance it, but "
                            f'client group "{client.name}" speaks a raw byte protocol it '
                            "cannot parse (concept C20); use layer: 4, which passes any "
                            "protocol through",
                        )
        return self

    # --- figures: which figures ``lbsim run`` draws (names in figure_names.py) ---
    figures: tuple[str, ...] = Field(default=DEFAULT_FIGURES, min_length=1)

    @field_validator("figures", mode="after")
    @classmethod
    def _check_figures(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            if name not in FIGURE_NAMES:
                raise KeyedValueError(
                    (index,), f'no figure "{name}" (figures: {", ".join(FIGURE_NAMES)})'
                )
            if name in names[:index]:
                raise KeyedValueError((index,), f'figure "{name}" is listed twice')
        return names

    # --- end of figures ---

    # --- topology: a layered deployment instead of the star (topology.py) ---
    topology: TopologyConfig | None = None

    @model_validator(mode="after")
    def _check_topology(self) -> Self:
        from lbsim.scenario.topology_graph import check_topology

        check_topology(self)
        return self

    # --- end of topology ---

    def backend_names(self) -> tuple[str, ...]:
        """Names of all backend servers in order: ``web-1, web-2, pictures-1, ...``.

        Returns:
            One name per server, group by group.
        """
        return tuple(name for group in self.backends for name in group.instance_names())

    def to_yaml(self) -> str:
        """Render the resolved scenario as YAML with units, loadable again.

        Returns:
            YAML text; loading it gives a scenario equal to this one.
        """
        return dump_yaml(self)


def _check_unique(section: str, names: list[str], key: str) -> None:
    for index, name in enumerate(names):
        if name in names[:index]:
            raise KeyedValueError(
                (section, index, key),
                f'"{name}" is already used by another entry of {section}; names must be unique',
            )


def _check_group(loc: tuple[str | int, ...], group: str, known: list[str]) -> None:
    if group not in known:
        raise KeyedValueError(
            loc, f'no backend group "{group}" (backend groups: {", ".join(known)})'
        )
