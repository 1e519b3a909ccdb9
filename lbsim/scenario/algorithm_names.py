"""The balancing algorithm names offered at each layer, in documentation order.

Theory of operation: the scenario schema must know the names to validate a file,
but the scenario layer may not import the engine (``lbsim.lb``). So the names
live here, in a leaf module, and the algorithm registry
(:mod:`lbsim.lb.algorithms.registry`) checks when it is imported that its table
offers exactly these names at each layer: one list, and a loud failure if the two
ever disagree.
"""

from __future__ import annotations

from typing import Final

ALGORITHM_NAMES: Final[dict[int, tuple[str, ...]]] = {
    4: (
        "round_robin",
        "weighted_round_robin",
        "least_connections",
        "random",
        "two_choices",
        "source_hash",
        "consistent_hash",
        "maglev",
    ),
    7: (
        "round_robin",
        "weighted_round_robin",
        "random",
        "least_request",
        "p2c",
        "peak_ewma",
        "consistent_hash",
        "maglev",
    ),
}
