"""The parts of a balancer: routes, upstream pool, connection table, CPU costs, headers.

Theory of operation:
    These models are the sub-keys of a ``balancers:`` entry that are plain data:
    layer-7 routes and their match conditions, the upstream connection pool
    (layer-4 proxy and layer 7), the layer-4 connection table and its idle
    timeouts, the CPU cost model and the client-address headers a layer-7 proxy
    adds. Whether a part applies to the balancer's layer and mode is checked by
    :class:`~lbsim.scenario.schema.balancer.BalancerConfig`, which also fills in
    the layer-dependent defaults held here (costs, source ports).
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator

from lbsim.scenario.bounds import check_bound
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.fields import (
    Duration,
    Headers,
    HttpMethod,
    Identifier,
    NonNegativeInt,
    PositiveDuration,
    PositiveInt,
    UrlPrefix,
)
from lbsim.scenario.schema.base import SchemaModel
from lbsim.scenario.units import parse_duration

__all__ = [
    "DEFAULT_SOURCE_PORTS",
    "LAYER_DEFAULT_COSTS",
    "CostConfig",
    "ForwardedConfig",
    "PoolConfig",
    "Route",
    "RouteMatch",
    "TableConfig",
    "TableTimeouts",
]

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

#: Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
DEFAULT_SOURCE_PORTS: Final = (32768, 60999)


class RouteMatch(SchemaModel):
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


class Route(SchemaModel):
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


class PoolConfig(SchemaModel):
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


class TableTimeouts(SchemaModel):
    """How long a connection-table entry survives without traffic, per state.

    Defaults are Linux IPVS's (docs/validation.md): established 900 s, SYN received
    60 s, FIN wait 120 s, TIME_WAIT 120 s, close (after a reset) 10 s.
    """

    established: PositiveDuration = parse_duration("900s")
    syn_recv: PositiveDuration = parse_duration("60s")
    fin_wait: PositiveDuration = parse_duration("120s")
    time_wait: PositiveDuration = parse_duration("120s")
    close: PositiveDuration = parse_duration("10s")


class TableConfig(SchemaModel):
    """A layer-4 balancer's connection table.

    Attributes:
        capacity: Most entries at once; a new connection beyond it is refused with
            RST. None means unlimited.
        timeouts: Idle timeouts per state.
    """

    capacity: PositiveInt | None = None
    timeouts: TableTimeouts = TableTimeouts()


class CostConfig(SchemaModel):
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


class ForwardedConfig(SchemaModel):
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
