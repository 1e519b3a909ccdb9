"""Round robin, random and least-connections/least-request.

Theory of operation
-------------------
*Round robin* without weights is a counter taken modulo the number of candidates:
O(1), and when the set changes the counter simply keeps going, so the rotation
resumes at once with no lasting bias.

*Smooth weighted round robin* is the algorithm of nginx's upstream module
(``ngx_http_upstream_get_peer``, described by Maxim Dounin on the nginx-devel list,
2012): each backend keeps a ``current`` score; on every pick every score grows by
its weight, the highest score wins (first one on a tie) and the winner's score
drops by the sum of the weights.  Over any window of ``sum(weights)`` picks each
backend is chosen exactly ``weight`` times, and the picks are interleaved
(5:1:1 gives a a b a c a a) instead of arriving in bursts.  Scores are kept per
backend *name*, so a backend that stays in the set keeps its place when others
come or go, a newcomer starts at 0 and a leaver's score is forgotten.

*Random* draws uniformly, or proportionally to weight when the weights differ
(cumulative weights are cached and recomputed only when the weights change).

*Least connections* (L4) / *least request* (L7) choose the minimum of
``active / weight``.  The scan starts just after the previous winner and keeps
the first minimum it meets, so tied backends take turns (deterministic, no
randomness) in one O(n) pass.

Every weighted variant reads *effective* weights (:mod:`.weights`): a weight set
at run time with ``set_weight`` replaces the configured one, and with slow start a
backend that joins later has its weight ramped up over ``slow_start_window``.
Under least request the ramp is what keeps a newcomer, whose zero in-flight
requests make it the minimum, from being flooded: while a ramp is under way (or
a weight is set) the choice is Envoy's for unequal weights, a smooth weighted
rotation over ``weight / (active + 1)``.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, ClassVar

from lbsim.lb.algorithms.base import B, boolean
from lbsim.lb.algorithms.weights import WeightedAlgorithm

__all__ = [
    "LeastConnections",
    "LeastRequest",
    "RandomChoice",
    "RoundRobin",
    "WeightedRoundRobin",
]


class RoundRobin(WeightedAlgorithm):
    """Rotate over the candidates, optionally weighted (smooth, nginx-style).

    Args:
        rng: The balancer's random stream (unused; kept for the common interface).
        weighted: If True use smooth weighted round robin; if False ignore weights
            and rotate in O(1). The registry sets False at layer 4 and True at
            layer 7.
        **params: Slow start (see :class:`WeightedAlgorithm`), weighted only.
    """

    name: ClassVar[str] = "round_robin"
    layers: ClassVar[frozenset[int]] = frozenset({4, 7})

    def __init__(self, rng: random.Random, *, weighted: bool = False, **params: Any) -> None:
        self.weighted = boolean(self.name, "weighted", weighted)
        super().__init__(rng, **params)
        self._next = 0

    @property
    def uses_weights(self) -> bool:
        """Only the smooth weighted rotation reads weights."""
        return self.weighted

    @property
    def ignores_weights_because(self) -> str:
        """See :attr:`WeightedAlgorithm.ignores_weights_because`."""
        return "weighted: false is the layer-4 default; use weighted_round_robin"

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return the next backend in (weighted) rotation; see the module docstring."""
        if not self.weighted:
            i = self._next % len(candidates)
            self._next = i + 1
            return candidates[i]
        book = self.weight_book
        if not book.static and book.adjusted(candidates, now):
            weights = book.weights(candidates, now)
        else:
            weights = [c.weight for c in candidates]
        return candidates[self.rotation.choose(candidates, weights)]


class WeightedRoundRobin(RoundRobin):
    """Smooth weighted round robin.

    At layer 4 it sits next to plain ``round_robin``; at layer 7 ``round_robin`` is
    weighted too, as in nginx and Envoy.

    Args:
        rng: The balancer's random stream (unused).
        **params: Slow start (see :class:`WeightedAlgorithm`).
    """

    name: ClassVar[str] = "weighted_round_robin"
    layers: ClassVar[frozenset[int]] = frozenset({4, 7})

    def __init__(self, rng: random.Random, **params: Any) -> None:
        if "weighted" in params:
            raise ValueError(f"{self.name}: is always weighted; 'weighted' is not a parameter")
        super().__init__(rng, weighted=True, **params)

    @classmethod
    def accepted_params(cls) -> tuple[str, ...]:
        """See :meth:`Algorithm.accepted_params` (``weighted`` is fixed here)."""
        return tuple(p for p in super().accepted_params() if p != "weighted")


class RandomChoice(WeightedAlgorithm):
    """Pick uniformly at random, or in proportion to weight when weights differ.

    Args:
        rng: The balancer's random stream.
        weighted: If False, ignore weights entirely (O(1) per pick instead of one
            O(n) pass to notice weight changes).
        **params: Slow start (see :class:`WeightedAlgorithm`), weighted only.
    """

    name: ClassVar[str] = "random"
    layers: ClassVar[frozenset[int]] = frozenset({4, 7})

    def __init__(self, rng: random.Random, *, weighted: bool = True, **params: Any) -> None:
        self.weighted = boolean(self.name, "weighted", weighted)
        super().__init__(rng, **params)
        self._weights: list[float] = []
        self._uniform = True
        self._cumulative: list[float] = []

    @property
    def uses_weights(self) -> bool:
        """Unweighted random ignores weights."""
        return self.weighted

    @property
    def ignores_weights_because(self) -> str:
        """See :attr:`WeightedAlgorithm.ignores_weights_because`."""
        return "weighted: false; remove it"

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return a random candidate; see the class docstring."""
        n = len(candidates)
        if self.weighted:
            book = self.weight_book
            if not book.static and book.adjusted(candidates, now):
                weights = book.weights(candidates, now)
            else:
                weights = [c.weight for c in candidates]
            if weights != self._weights:
                self._weights = weights
                self._uniform = min(weights) == max(weights)
                self._cumulative = list(accumulate(weights))
            if not self._uniform:
                cumulative = self._cumulative
                i = bisect_right(cumulative, self.rng.random() * cumulative[-1])
                return candidates[min(i, n - 1)]
        return candidates[self.rng.randrange(n)]


class LeastConnections(WeightedAlgorithm):
    """Pick the minimum of ``active / weight``; ties take turns (no randomness).

    Args:
        rng: The balancer's random stream (unused).
        **params: Slow start (see :class:`WeightedAlgorithm`).
    """

    name: ClassVar[str] = "least_connections"
    layers: ClassVar[frozenset[int]] = frozenset({4})

    def __init__(self, rng: random.Random, **params: Any) -> None:
        super().__init__(rng, **params)
        self._start = 0

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return the least-loaded candidate, rotating among ties."""
        n = len(candidates)
        book = self.weight_book
        if not book.static and book.adjusted(candidates, now):  # Envoy's unequal-weight mode
            return candidates[
                self.rotation.choose(candidates, book.request_weights(candidates, now))
            ]
        start = self._start % n
        best = start
        c = candidates[start]
        best_load = c.active / c.weight
        for i in range(start + 1, n):
            c = candidates[i]
            load = c.active / c.weight
            if load < best_load:
                best_load = load
                best = i
        for i in range(start):
            c = candidates[i]
            load = c.active / c.weight
            if load < best_load:
                best_load = load
                best = i
        self._start = best + 1
        return candidates[best]


class LeastRequest(LeastConnections):
    """Layer-7 name of :class:`LeastConnections`: ``active`` counts in-flight requests."""

    name: ClassVar[str] = "least_request"
    layers: ClassVar[frozenset[int]] = frozenset({7})
