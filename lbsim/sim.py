"""Build and run one simulation per balancer variant of a scenario.

Theory of operation: for each entry of ``balancers`` a fresh SimPy environment is
wired from the same scenario:

    client hosts --client links--> balancer --backend links--> backends

Every client host and every backend has its own pair of one-way links to the
balancer. The balancer is any kind of the registry (:mod:`lbsim.lb.registry`):
the L4 NAT or DSR forwarder, which receives raw segments, or the L4 splicing
proxy or the L7 proxy, whose TCP stacks terminate them. Clients and backends are
identical across variants, so variants differ only by the balancer (common
random numbers). The work is done in :mod:`lbsim.run`; this module keeps the
entry points the rest of the project imports.
"""

from __future__ import annotations

from lbsim.lb.base import build_algorithm
from lbsim.run import (
    Progress,
    Tap,
    VariantBuild,
    VariantRun,
    build_variant,
    check_buildable,
    run_scenario,
    run_variant,
    tcp_params,
    variant_names,
)

__all__ = [
    "Progress",
    "Tap",
    "VariantBuild",
    "VariantRun",
    "build_algorithm",
    "build_variant",
    "check_buildable",
    "run_scenario",
    "run_variant",
    "tcp_params",
    "variant_names",
]
