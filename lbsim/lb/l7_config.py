"""Layer-7 proxy settings: CPU costs, buffering limits, the affinity key.

Theory of operation: what the layer-7 proxy (:mod:`lbsim.lb.l7.proxy`) reads from
its scenario entry beyond routes and pools, as small value objects: the CPU cost
of each piece of request work (:class:`L7Costs`), the limits that protect its
memory (:class:`Limits`), how many bytes of a request its parser reads
(:func:`head_bytes`) and how a ``consistent_hash`` key is made from a request
(:func:`key_function`, the ``hash_on`` setting). The builders at the end turn
the scenario's entry into these and into the router and edge policy.
"""

from __future__ import annotations

from collections.abc import Callable

from lbsim.app.http import HttpRequest
from lbsim.lb.algorithms import stable_hash
from lbsim.lb.base import Wiring
from lbsim.lb.cache import ResponseCache
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import Router, Rule
from lbsim.streams import mix64

#: Methods whose requests carry no body: all their bytes are head (header) bytes.
BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
#: Head bytes assumed for a request with a body (request line and headers).
HEAD_WITH_BODY = 500


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


def head_bytes(req: HttpRequest) -> int:
    """Bytes of a request's head (what the parser reads)."""
    size: int = req.size
    return size if req.method in BODYLESS else min(size, HEAD_WITH_BODY)


def key_function(hash_on: str) -> Callable[[int, dict[str, str]], int]:
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


def router_of(wiring: Wiring) -> Router:
    """The balancer's routing rules, each with its own algorithm instance.

    Without ``routes`` one catch-all rule spans the backends of its groups.
    """
    balancer = wiring.config
    refs = wiring.backends
    rules = []
    if balancer.routes:
        for k, route in enumerate(balancer.routes):
            m = route.match
            rules.append(
                Rule(
                    route.group,
                    [r for r in refs if r.group == route.group],
                    wiring.algorithm(7, "route", k),
                    path_prefix=m.path_prefix,
                    path=m.path,
                    methods=m.methods,
                    headers=m.headers,
                    auth=route.auth,
                    allow=route.allow,
                    public=route.public,
                )
            )
    else:
        rules.append(Rule("*", wiring.eligible(), wiring.algorithm(7, "route", 0)))
    return Router(rules)


def policy_of(wiring: Wiring) -> EdgePolicy:
    """Blocking and authentication at the edge, from ``block`` and ``auth``."""
    balancer = wiring.config
    block = balancer.block
    blocked_groups = frozenset(block.clients) if block is not None else frozenset()
    group_of_ip = wiring.client_groups
    return EdgePolicy(
        auth_required=balancer.auth is not None and balancer.auth.required,
        blocked_clients=(lambda ip: group_of_ip.get(ip) in blocked_groups)
        if blocked_groups
        else None,
        blocked_headers=block.headers if block is not None else (),
        blocked_agents=block.user_agents if block is not None else (),
    )


def cache_of(wiring: Wiring) -> ResponseCache | None:
    """The response cache, if the balancer has one."""
    c = wiring.config.cache
    return ResponseCache(c.size, c.ttl, c.methods) if c is not None else None


def limits_of(wiring: Wiring) -> Limits | None:
    """The buffering limits, if any are set."""
    lim = wiring.config.limits
    if lim is None:
        return None
    return Limits(lim.max_request, lim.max_buffer, lim.request_timeout)


def costs_of(wiring: Wiring) -> L7Costs:
    """CPU seconds per unit of request work."""
    costs = wiring.config.costs
    return L7Costs(
        costs.per_request, costs.per_header_byte, costs.per_route_rule, costs.per_cache_lookup
    )
