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

    The models live in one module per concept, and this package re-exports them all
    (import from ``lbsim.scenario.schema``):

    - ``base``: :class:`SchemaModel`, the frozen, strict base of every model;
    - ``network``: ``tcp:`` and the links of ``network:``;
    - ``backends``: backend groups;
    - ``clients``: client groups and their request mix;
    - ``balancer_parts``: routes, upstream pool, connection table, CPU costs and
      client-address headers of a balancer;
    - ``balancer``: one balancer variant and the keys each layer allows;
    - ``scenario``: the whole file and the checks across its sections.

    Faults, health checks, retries and outlier detection (``faults.py``), the
    layer-7 features (``features.py``), circuit breakers (``breakers.py``) and
    ``topology:`` (``topology.py``) are sibling modules of this package.
"""

from __future__ import annotations

from lbsim.scenario.schema.backends import BackendGroup
from lbsim.scenario.schema.balancer import L4_ALGORITHMS, L7_ALGORITHMS, BalancerConfig
from lbsim.scenario.schema.balancer_parts import (
    DEFAULT_SOURCE_PORTS,
    LAYER_DEFAULT_COSTS,
    CostConfig,
    ForwardedConfig,
    PoolConfig,
    Route,
    RouteMatch,
    TableConfig,
    TableTimeouts,
)
from lbsim.scenario.schema.base import SchemaModel
from lbsim.scenario.schema.clients import (
    BODYLESS_METHODS,
    OPEN_LOOP_DEFAULT_HOSTS,
    ClientGroup,
    RequestSpec,
)
from lbsim.scenario.schema.network import LinkConfig, NetworkConfig, TcpConfig
from lbsim.scenario.schema.scenario import Scenario

__all__ = [
    "BODYLESS_METHODS",
    "DEFAULT_SOURCE_PORTS",
    "L4_ALGORITHMS",
    "L7_ALGORITHMS",
    "LAYER_DEFAULT_COSTS",
    "OPEN_LOOP_DEFAULT_HOSTS",
    "BackendGroup",
    "BalancerConfig",
    "ClientGroup",
    "CostConfig",
    "ForwardedConfig",
    "LinkConfig",
    "NetworkConfig",
    "PoolConfig",
    "RequestSpec",
    "Route",
    "RouteMatch",
    "Scenario",
    "SchemaModel",
    "TableConfig",
    "TableTimeouts",
    "TcpConfig",
]
