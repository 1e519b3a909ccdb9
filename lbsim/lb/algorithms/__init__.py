"""Load-balancing algorithms as pure strategy objects.

Every algorithm implements :class:`Algorithm`: ``pick(candidates, now, key)``
returns one of the candidate backends and ``on_complete(backend, now, latency)``
feeds back a finished request.  No SimPy and no clock here; build one with
:func:`make_algorithm`.

========================  =====  ============================================
name                      layer  idea
========================  =====  ============================================
``round_robin``           4, 7   rotation (smooth weighted at L7)
``weighted_round_robin``  4, 7   smooth weighted rotation (nginx)
``least_connections``     4      min active/weight, ties take turns
``least_request``         7      same, over in-flight requests
``random``                4, 7   uniform, or weighted if weights differ
``two_choices``/``p2c``   4 / 7  best of d random choices (d = 2 by default)
``peak_ewma``             7      P2C over peak-EWMA latency × (active + 1)
``source_hash``           4      ``key % n`` (moves ~(n-1)/n keys on change)
``consistent_hash``       4, 7   ring with virtual nodes (moves ~1/n)
``maglev``                4, 7   Maglev lookup table (balanced, moves ~1/n)
========================  =====  ============================================

The weighted ones (round robin with weights, least connections/request, random,
two choices/p2c) take slow start for new backends and weights set at run time
(:mod:`.weights`); the ring and Maglev take a balance factor for bounded loads
(:mod:`.bounded`).  The registry (:mod:`.registry`) is the one definition of
these names.
"""

from lbsim.lb.algorithms.base import Algorithm, BackendView
from lbsim.lb.algorithms.choices import PeakEwma, PowerOfTwoChoices, TwoChoices
from lbsim.lb.algorithms.hashing import ConsistentHash, SourceHash
from lbsim.lb.algorithms.keys import mix64, stable_hash
from lbsim.lb.algorithms.maglev import Maglev, build_maglev_table, is_prime
from lbsim.lb.algorithms.registry import ALGORITHMS_BY_LAYER, algorithm_class, make_algorithm
from lbsim.lb.algorithms.simple import (
    LeastConnections,
    LeastRequest,
    RandomChoice,
    RoundRobin,
    WeightedRoundRobin,
)
from lbsim.lb.algorithms.weights import SlowStart, WeightedAlgorithm, weight_from_report

__all__ = [
    "ALGORITHMS_BY_LAYER",
    "Algorithm",
    "BackendView",
    "ConsistentHash",
    "LeastConnections",
    "LeastRequest",
    "Maglev",
    "PeakEwma",
    "PowerOfTwoChoices",
    "RandomChoice",
    "RoundRobin",
    "SlowStart",
    "SourceHash",
    "TwoChoices",
    "WeightedAlgorithm",
    "WeightedRoundRobin",
    "algorithm_class",
    "build_maglev_table",
    "is_prime",
    "make_algorithm",
    "mix64",
    "stable_hash",
    "weight_from_report",
]
