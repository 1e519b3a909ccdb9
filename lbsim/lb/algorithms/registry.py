"""Which algorithm names exist at which layer, and how to build one.

Theory of operation
-------------------
One table, ``_REGISTRY``, maps each layer to the names offered there and, for each
name, the class to instantiate plus layer-specific default parameters.  The same
class may appear under several names or layers: ``round_robin`` is
:class:`RoundRobin` with ``weighted=False`` at layer 4 (an L4 balancer rotates
connections, and weights get their own ``weighted_round_robin``) and with
``weighted=True`` at layer 7 (as in nginx and Envoy, where round robin honours
weights).  ``ALGORITHMS_BY_LAYER`` is derived from the table, so the two never
disagree.

This table is the one definition of what each name builds. The names themselves
are also listed in :mod:`lbsim.scenario.algorithm_names` (the scenario layer may
not import the engine); importing this module fails loudly if the two lists
differ, and tests check that the scenario reference and the package docstring
list exactly these names.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from lbsim.lb.algorithms.base import Algorithm
from lbsim.lb.algorithms.choices import PeakEwma, PowerOfTwoChoices, TwoChoices
from lbsim.lb.algorithms.hashing import ConsistentHash, SourceHash
from lbsim.lb.algorithms.maglev import Maglev
from lbsim.lb.algorithms.simple import (
    LeastConnections,
    LeastRequest,
    RandomChoice,
    RoundRobin,
    WeightedRoundRobin,
)
from lbsim.scenario.algorithm_names import ALGORITHM_NAMES

__all__ = ["ALGORITHMS_BY_LAYER", "algorithm_class", "make_algorithm"]

_NO_DEFAULTS: Mapping[str, Any] = MappingProxyType({})

_REGISTRY: dict[int, dict[str, tuple[type[Algorithm], Mapping[str, Any]]]] = {
    4: {
        "round_robin": (RoundRobin, MappingProxyType({"weighted": False})),
        "weighted_round_robin": (WeightedRoundRobin, _NO_DEFAULTS),
        "least_connections": (LeastConnections, _NO_DEFAULTS),
        "random": (RandomChoice, _NO_DEFAULTS),
        "two_choices": (TwoChoices, _NO_DEFAULTS),
        "source_hash": (SourceHash, _NO_DEFAULTS),
        "consistent_hash": (ConsistentHash, _NO_DEFAULTS),
        "maglev": (Maglev, _NO_DEFAULTS),
    },
    7: {
        "round_robin": (RoundRobin, MappingProxyType({"weighted": True})),
        "weighted_round_robin": (WeightedRoundRobin, _NO_DEFAULTS),
        "random": (RandomChoice, _NO_DEFAULTS),
        "least_request": (LeastRequest, _NO_DEFAULTS),
        "p2c": (PowerOfTwoChoices, _NO_DEFAULTS),
        "peak_ewma": (PeakEwma, _NO_DEFAULTS),
        "consistent_hash": (ConsistentHash, _NO_DEFAULTS),
        "maglev": (Maglev, _NO_DEFAULTS),
    },
}

ALGORITHMS_BY_LAYER: dict[int, tuple[str, ...]] = {
    layer: tuple(entries) for layer, entries in _REGISTRY.items()
}
"""Algorithm names offered at each layer, in documentation order."""
if ALGORITHMS_BY_LAYER != ALGORITHM_NAMES:  # pragma: no cover - a programming error
    raise RuntimeError("lbsim.lb.algorithms registry and lbsim.scenario.algorithm_names disagree")


def _lookup(name: str, layer: int) -> tuple[type[Algorithm], Mapping[str, Any]]:
    entries = _REGISTRY.get(layer)
    if entries is None:
        raise ValueError(f"layer must be one of {', '.join(map(str, _REGISTRY))}, got {layer!r}")
    entry = entries.get(name)
    if entry is None:
        elsewhere = [str(other) for other, e in _REGISTRY.items() if name in e]
        hint = f" ('{name}' exists at layer {', '.join(elsewhere)})" if elsewhere else ""
        raise ValueError(
            f"unknown algorithm {name!r} at layer {layer}{hint}; "
            f"available at layer {layer}: {', '.join(entries)}"
        )
    return entry


def algorithm_class(name: str, layer: int) -> type[Algorithm]:
    """Return the class behind ``name`` at ``layer``.

    Raises:
        ValueError: As :func:`make_algorithm`.
    """
    return _lookup(name, layer)[0]


def make_algorithm(name: str, layer: int, rng: random.Random, **params: Any) -> Algorithm:
    """Build the algorithm called ``name`` at ``layer``.

    Args:
        name: One of ``ALGORITHMS_BY_LAYER[layer]``.
        layer: 4 or 7.
        rng: The balancer's random stream.
        **params: Algorithm parameters (e.g. ``vnodes=160``, ``table_size=65537``,
            ``tau=10.0``); they override the layer defaults.

    Returns:
        A fresh algorithm instance.

    Raises:
        ValueError: If the layer or name is unknown (the message lists the names
            available at that layer) or a parameter is unknown or invalid.

    Example:
        >>> algo = make_algorithm("p2c", 7, random.Random(1))
        >>> algo.name
        'p2c'
    """
    cls, defaults = _lookup(name, layer)
    return cls(rng, **{**defaults, **params})
