"""One balancer variant: its layer, mode and algorithm, and the keys each layer allows.

Theory of operation:
    A ``balancers:`` entry is validated in two steps. Field validators fill in the
    defaults that depend on the layer (``before`` mode, reading the ``layer`` and
    ``mode`` already validated): NAT mode, a connection table and MSS clamping at
    layer 4; buffered responses, a panic threshold, ``X-Forwarded-For`` and
    ``client_ip`` hashing at layer 7; source ports for balancers that open their
    own connections; the CPU costs of the layer. The model validator then refuses
    what the layer cannot do, each with the reason (a layer-4 balancer cannot read
    requests, so it cannot route, cache, authenticate or retry them). Algorithm
    names are read from :mod:`lbsim.scenario.algorithm_names` when a balancer is
    validated, so the one list there is the only one to extend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lbsim.scenario.algorithm_names import ALGORITHM_NAMES
from lbsim.scenario.bounds import check_bound, check_param_bounds
from lbsim.scenario.breakers import CircuitBreakerConfig
from lbsim.scenario.client_address import ProxyProtocol, check_proxy_protocol
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.faults import HealthCheckConfig, OutlierConfig, RetryConfig
from lbsim.scenario.features import (
    AuthConfig,
    BlockConfig,
    CacheConfig,
    LimitsConfig,
    TlsServerConfig,
)
from lbsim.scenario.fields import Identifier, Params, PortRange, PositiveInt
from lbsim.scenario.schema.balancer_parts import (
    DEFAULT_SOURCE_PORTS,
    LAYER_DEFAULT_COSTS,
    CostConfig,
    ForwardedConfig,
    PoolConfig,
    Route,
    TableConfig,
)
from lbsim.scenario.schema.base import SchemaModel

__all__ = ["L4_ALGORITHMS", "L7_ALGORITHMS", "BalancerConfig"]

# The algorithm names are defined once, in algorithm_names.py (the registry checks them).
L4_ALGORITHMS: Final = ALGORITHM_NAMES[4]
"""Algorithms a layer-4 balancer can use to place a new connection."""

L7_ALGORITHMS: Final = ALGORITHM_NAMES[7]
"""Algorithms a layer-7 balancer can use to place each request."""

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


class BalancerConfig(SchemaModel):
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
        proxy_protocol: Layer-4 proxy: write a PROXY protocol header (``v1`` text,
            ``v2`` binary) with the client's address first on each backend
            connection; None writes none.
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
    proxy_protocol: ProxyProtocol | None = None
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
        allowed = ALGORITHM_NAMES[self.layer]  # read now: the one list to extend
        if self.algorithm not in allowed:
            other_layer = 7 if self.layer == 4 else 4
            other = ALGORITHM_NAMES[other_layer]
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
        check_proxy_protocol(self.layer, self.mode, self.proxy_protocol)
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
