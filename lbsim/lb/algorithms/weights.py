"""Effective weights: weights set at run time, and slow start for new backends.

Theory of operation
-------------------
A weighted algorithm normally reads each backend's static ``weight`` (the backend
group's ``weight`` in the scenario).  Two things can change the weight it uses,
and both live here, in one :class:`WeightBook` per algorithm instance:

*Weights set at run time.*  :meth:`WeightedAlgorithm.set_weight` replaces a
backend's weight by name, e.g. with one computed from the load the backend
reports, as Envoy's client-side weighted round robin does with ORCA reports
(:func:`weight_from_report`).  Nothing in the balancer calls it yet; it is the
hook that reporting plugs into.

*Slow start.*  A backend that joins a running pool (scale out, or back from a
failure) is cold: empty caches, unwarmed JIT, and under least-request it has
zero in-flight requests, so it would win every comparison and be flooded.  As in
Envoy's ``slow_start_config``, its effective weight is scaled during a window of
``W`` seconds after it joined by::

    factor(t) = max(min_percent / 100, (t / W) ** (1 / aggression))   for t < W
    factor(t) = 1                                                      for t >= W

so ``aggression = 1`` is a linear ramp, larger values ramp up faster at first,
smaller ones slower; ``min_percent`` (Envoy's ``min_weight_percent``, default 10)
keeps a new backend from getting no traffic at all at the start.  HAProxy's
``slowstart`` is the linear case (with a minimum of about zero).  Sources: Envoy
documentation, "Slow start mode" (architecture overview, load balancing) and the
``SlowStartConfig`` proto; HAProxy configuration manual, server option
``slowstart``.

(Envoy also counts the time since joining as at least one second; with the
minimum weight that changes nothing that matters, so it is left out.)

When does a backend *join*?  HAProxy never applies slow start when it starts,
and in Envoy a pool that is new as a whole ramps evenly, which changes no share
("slow start is not very effective" then, its documentation says); so here the
backends seen at the algorithm's first pick are established.  After
that, a name the algorithm has never seen starts its ramp at the pick where it
first appears (scale out needs no wiring this way), and a balancer may also call
:meth:`WeightedAlgorithm.backend_joined` explicitly (e.g. when a backend passes
its health checks again, which re-enters slow start in both Envoy and HAProxy).

*Least request and two choices during a ramp.*  Comparing
``active / weight`` cannot express a ramp when backends are mostly idle (0/w is 0
for every w), and at low concurrency a newcomer would still win every tie.  So,
while any effective weight differs from the configured one (a ramp or a weight
set at run time), these algorithms do what Envoy's least-request balancer does
whenever weights differ: a smooth weighted rotation (Envoy uses EDF, which gives
the same shares) over the dynamic weights ``weight / (active + 1)`` (Envoy's
``active_request_bias`` of 1).  A busy backend's turn comes less often, an idle
one is picked in proportion to its weight, and the ramp shows at any load.  Once
every ramp has ended and no weight is set, they go back to their usual choice.

Cost: with no slow start configured and no weight set, nothing here runs on the
pick path beyond one boolean test.  With slow start, a candidate list is scanned
for newcomers only when it is a different list object or its length changed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lbsim.lb.algorithms.base import Algorithm, BackendView, positive_float

__all__ = [
    "SlowStart",
    "SmoothRotation",
    "WeightBook",
    "WeightedAlgorithm",
    "weight_from_report",
]


@dataclass(frozen=True, slots=True)
class SlowStart:
    """A slow-start ramp.

    Attributes:
        window: Length of the ramp, seconds (> 0).
        aggression: Shape exponent (> 0); 1 is linear.
        min_fraction: Smallest factor applied, in (0, 1].
    """

    window: float
    aggression: float = 1.0
    min_fraction: float = 0.1

    def factor(self, age: float) -> float:
        """Weight multiplier of a backend that joined ``age`` seconds ago.

        Args:
            age: Seconds since the backend joined (negative counts as 0).

        Returns:
            A factor in ``[min_fraction, 1]``; exactly 1 once ``age >= window``.
        """
        if age >= self.window:
            return 1.0
        t = max(age, 0.0) / self.window
        ramp = t if self.aggression == 1.0 else t ** (1.0 / self.aggression)
        return max(ramp, self.min_fraction)


def weight_from_report(
    qps: float, utilization: float, eps: float = 0.0, penalty: float = 1.0
) -> float:
    """Weight of a backend from the load it reports (Envoy client-side WRR).

    Envoy's ``client_side_weighted_round_robin`` sets each endpoint's weight to
    ``qps / (utilization + penalty * eps / qps)``: requests per second served per
    unit of utilisation, lowered for endpoints that answer errors (``eps``, errors
    per second).  Source: Envoy API reference,
    ``extensions.load_balancing_policies.client_side_weighted_round_robin.v3``.

    Args:
        qps: Requests per second the backend reports (> 0).
        utilization: Its utilisation, e.g. CPU in [0, 1] (> 0).
        eps: Errors per second it reports (>= 0).
        penalty: Envoy's ``error_utilization_penalty`` (>= 0).

    Returns:
        The weight, > 0.

    Raises:
        ValueError: If an argument is out of range.
    """
    if not (qps > 0 and utilization > 0 and eps >= 0 and penalty >= 0):
        raise ValueError(
            "weight_from_report: need qps > 0, utilization > 0, eps >= 0, penalty >= 0"
        )
    return qps / (utilization + penalty * eps / qps)


def slow_start_from_params(
    algorithm: str, window: object, aggression: object, min_percent: object
) -> SlowStart | None:
    """Validate the ``slow_start_*`` parameters of ``algorithm``.

    Returns:
        The ramp, or None when ``window`` is None (slow start off).

    Raises:
        ValueError: If a value is invalid, or a shape is given without a window.
    """
    if window is None:
        if aggression is not None or min_percent is not None:
            raise ValueError(
                f"{algorithm}: slow_start_aggression and slow_start_min_percent shape the "
                "slow-start ramp; give slow_start_window (seconds) too"
            )
        return None
    length = positive_float(algorithm, "slow_start_window", window)
    shape = (
        1.0
        if aggression is None
        else positive_float(algorithm, "slow_start_aggression", aggression)
    )
    percent = (
        10.0
        if min_percent is None
        else positive_float(algorithm, "slow_start_min_percent", min_percent)
    )
    if percent > 100.0:
        raise ValueError(
            f"{algorithm}: slow_start_min_percent must be in (0, 100], got {min_percent!r}"
        )
    return SlowStart(length, shape, percent / 100.0)


class SmoothRotation:
    """Smooth weighted rotation (nginx's upstream algorithm), scores kept by name.

    Each pick adds every candidate's weight to its score, takes the highest score
    (first on a tie) and subtracts the sum of the weights from the winner: over any
    ``sum(weights)`` picks each backend is chosen ``weight`` times, interleaved.
    Scores follow backends by name when the candidate list changes.
    """

    __slots__ = ("_current", "_names")

    def __init__(self) -> None:
        self._names: list[str] = []
        self._current: list[float] = []

    def choose(self, candidates: Sequence[BackendView], weights: Sequence[float]) -> int:
        """Index of the candidate whose turn it is, given this pick's weights."""
        names = [c.name for c in candidates]
        if names != self._names:
            old = dict(zip(self._names, self._current, strict=True))
            self._current = [old.get(n, 0.0) for n in names]
            self._names = names
        current = self._current
        total = 0.0
        best = 0
        best_score = float("-inf")
        for i, w in enumerate(weights):
            score = current[i] + w
            current[i] = score
            total += w
            if score > best_score:
                best_score = score
                best = i
        current[best] -= total
        return best


class WeightBook:
    """Effective weights of one algorithm instance: overrides and slow-start ramps.

    Args:
        slow_start: The ramp, or None for no slow start.
    """

    __slots__ = ("_joined", "_known", "_last", "_last_len", "_overrides", "slow_start", "static")

    def __init__(self, slow_start: SlowStart | None) -> None:
        self.slow_start = slow_start
        self.static = slow_start is None
        """True while effective weights are the configured ones for sure (no slow
        start configured, no weight set): the pick paths test it first."""
        self._overrides: dict[str, float] = {}
        self._joined: dict[str, float] = {}  # name -> join time, while ramping
        self._known: set[str] | None = None  # names seen; None before the first pick
        self._last: object = None
        self._last_len = -1

    def set_weight(self, name: str, weight: float) -> None:
        """Use ``weight`` for backend ``name`` instead of its own."""
        self._overrides[name] = weight
        self.static = False

    def clear_weight(self, name: str) -> None:
        """Go back to backend ``name``'s own weight."""
        self._overrides.pop(name, None)
        self.static = self.slow_start is None and not self._overrides

    def joined(self, name: str, now: float) -> None:
        """Start (or restart) ``name``'s slow-start ramp at ``now``."""
        if self.slow_start is not None:
            if self._known is None:
                self._known = set()
            self._known.add(name)
            self._joined[name] = now

    def joined_at(self, name: str) -> float | None:
        """When ``name``'s current ramp started, or None if it is not ramping."""
        return self._joined.get(name)

    def adjusted(self, candidates: Sequence[BackendView], now: float) -> bool:
        """Note newcomers; say whether any effective weight differs from the static one.

        Args:
            candidates: This pick's candidates.
            now: Current simulated time.

        Returns:
            True if :meth:`weight_of` must be used instead of ``backend.weight``.
        """
        if self.slow_start is None:
            return bool(self._overrides)
        if candidates is not self._last or len(candidates) != self._last_len:
            self._last = candidates
            self._last_len = len(candidates)
            known = self._known
            if known is None:
                self._known = {c.name for c in candidates}
            else:
                for c in candidates:
                    if c.name not in known:
                        known.add(c.name)
                        self._joined[c.name] = now
        joined = self._joined
        if joined:
            window = self.slow_start.window
            for name in [n for n, t in joined.items() if now - t >= window]:
                del joined[name]
        return bool(joined or self._overrides)

    def weight_of(self, backend: BackendView, now: float) -> float:
        """Effective weight of ``backend`` at ``now`` (override, then ramp)."""
        name = backend.name
        weight = self._overrides.get(name, backend.weight)
        start = self._joined.get(name)
        if start is not None and self.slow_start is not None:
            weight *= self.slow_start.factor(now - start)
        return weight

    def weights(self, candidates: Sequence[BackendView], now: float) -> list[float]:
        """Effective weights of all candidates (call :meth:`adjusted` first)."""
        weight_of = self.weight_of
        return [weight_of(c, now) for c in candidates]

    def request_weights(self, candidates: Sequence[BackendView], now: float) -> list[float]:
        """Envoy's least-request weights, ``effective weight / (active + 1)``."""
        weight_of = self.weight_of
        return [weight_of(c, now) / (c.active + 1) for c in candidates]


class WeightedAlgorithm(Algorithm):
    """Base of the algorithms that honour weights: run-time weights and slow start.

    None of them reads the ``key`` of ``pick`` (``uses_key`` is False).

    Args:
        rng: The balancer's random stream.
        slow_start_window: Slow-start window in seconds; None (default) turns slow
            start off.
        slow_start_aggression: Ramp shape exponent (> 0, default 1: linear).
        slow_start_min_percent: Smallest share of its weight a new backend gets,
            percent in (0, 100] (default 10).
    """

    uses_key: ClassVar[bool] = False

    def __init__(
        self,
        rng: random.Random,
        *,
        slow_start_window: float | None = None,
        slow_start_aggression: float | None = None,
        slow_start_min_percent: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__(rng, **params)
        ramp = slow_start_from_params(
            self.name, slow_start_window, slow_start_aggression, slow_start_min_percent
        )
        if ramp is not None and not self.uses_weights:
            raise ValueError(
                f"{self.name}: slow start ramps a new backend's weight, but this "
                f"{self.name} ignores weights: {self.ignores_weights_because}"
            )
        self.weight_book = WeightBook(ramp)
        self.rotation = SmoothRotation()

    @property
    def uses_weights(self) -> bool:
        """Whether picks depend on weights (some variants ignore them)."""
        return True

    @property
    def ignores_weights_because(self) -> str:
        """Why :attr:`uses_weights` is False and what to use instead, for error messages."""
        return ""

    def set_weight(self, name: str, weight: float) -> None:
        """Use ``weight`` for backend ``name`` from now on (e.g. from its load report).

        Args:
            name: Backend name.
            weight: New weight, finite and > 0.

        Raises:
            ValueError: If ``weight`` is invalid or this variant ignores weights.
        """
        if not self.uses_weights:
            raise ValueError(f"{self.name}: ignores weights: {self.ignores_weights_because}")
        self.weight_book.set_weight(name, positive_float(self.name, "weight", weight))

    def clear_weight(self, name: str) -> None:
        """Go back to backend ``name``'s configured weight."""
        self.weight_book.clear_weight(name)

    def backend_joined(self, name: str, now: float) -> None:
        """Start backend ``name``'s slow-start ramp at ``now`` (no-op without slow start)."""
        self.weight_book.joined(name, now)

    def effective_weight(self, backend: BackendView, now: float) -> float:
        """The weight the algorithm uses for ``backend`` at ``now``."""
        return self.weight_book.weight_of(backend, now)
