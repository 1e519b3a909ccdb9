"""Scenario files: YAML in, a frozen, validated :class:`Scenario` out.

Typical use::

    from lbsim.scenario import load_scenario
    scenario = load_scenario("my.yaml", ["balancers.l7.algorithm=random"], seed=3)

The package sits below the engine and imports nothing else from ``lbsim``. Its modules,
one concept each: ``units`` (quantities such as "10ms"), ``distributions`` and
``grammar`` (distribution objects and their text form), ``fields`` (annotated field
types), ``schema`` (the models, one module per concept), ``paths`` (dotted key paths), ``overrides``
(``--set``), ``errors`` (one-line error messages) and ``loader`` (files).
"""

from lbsim.scenario.distributions import (
    FAMILIES,
    Constant,
    Distribution,
    DistributionError,
    Erlang,
    Exponential,
    HyperExponential,
    LogNormal,
    Pareto,
    Uniform,
)
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.grammar import parse_distribution
from lbsim.scenario.loader import (
    DEFAULT_SCENARIO,
    bundled_scenarios_dir,
    list_bundled,
    load_scenario,
    parse_scenario,
    read_scenario_data,
)
from lbsim.scenario.overrides import apply_overrides
from lbsim.scenario.schema import (
    L4_ALGORITHMS,
    L7_ALGORITHMS,
    BackendGroup,
    BalancerConfig,
    ClientGroup,
    CostConfig,
    LinkConfig,
    NetworkConfig,
    PoolConfig,
    RequestSpec,
    Route,
    RouteMatch,
    Scenario,
    TcpConfig,
)
from lbsim.scenario.units import (
    UnitError,
    format_bandwidth,
    format_duration,
    format_rate,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
)

__all__ = [
    "DEFAULT_SCENARIO",
    "FAMILIES",
    "L4_ALGORITHMS",
    "L7_ALGORITHMS",
    "BackendGroup",
    "BalancerConfig",
    "ClientGroup",
    "Constant",
    "CostConfig",
    "Distribution",
    "DistributionError",
    "Erlang",
    "Exponential",
    "HyperExponential",
    "LinkConfig",
    "LogNormal",
    "NetworkConfig",
    "Pareto",
    "PoolConfig",
    "RequestSpec",
    "Route",
    "RouteMatch",
    "Scenario",
    "ScenarioError",
    "TcpConfig",
    "Uniform",
    "UnitError",
    "apply_overrides",
    "bundled_scenarios_dir",
    "format_bandwidth",
    "format_duration",
    "format_rate",
    "format_size",
    "list_bundled",
    "load_scenario",
    "parse_bandwidth",
    "parse_distribution",
    "parse_duration",
    "parse_rate",
    "parse_scenario",
    "parse_size",
    "read_scenario_data",
]
