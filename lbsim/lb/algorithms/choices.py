"""Power of d random choices, and latency-aware peak EWMA on top of two choices.

Theory of operation
-------------------
*Two choices* (Azar, Broder, Karlin & Upfal, "Balanced allocations", 1994;
Mitzenmacher's thesis, 1996) samples two candidates uniformly and keeps the one
with the lower ``active / weight`` (the first sampled on a tie).  With n
long-lived connections on n backends the busiest backend then holds about
``ln ln n / ln 2 + O(1)`` of them instead of ``ln n / ln ln n`` for one random
choice, at O(1) cost per pick and without the herd behaviour of a stale global
minimum.  At layer 7 the same algorithm is called ``p2c`` and ``active`` counts
in-flight requests.

``choices: d`` samples d candidates instead of two (Envoy's ``choice_count``).
``replacement`` says how: without replacement (the default here) the d samples are
distinct, so with two backends two choices always compare both and the busier one
is never picked; with replacement each sample is an independent uniform draw, as
Envoy's least-request balancer does (envoy issues #11004 and #14859), so the same
backend can be drawn every time: with 2 backends and d = 2 the busier one still
wins 1/4 of the picks (both draws land on it), and in general a backend ranked k-th
least loaded of n (loads all different) wins with probability
``((n-k+1)^d - (n-k)^d) / n^d``.  Distinct
samples are the default because they never waste a choice, which matters only for
small pools; for large n the two agree (Mitzenmacher's supermarket model draws
with replacement, and its large-n limit is the same).  With d = 2 and no
replacement the draws are exactly those of earlier versions, so results of
existing scenarios do not change.

While a slow-start ramp is under way or a weight is set at run time, the choice
is Envoy's least-request choice for unequal weights (:mod:`.weights`): a smooth
weighted rotation over ``weight / (active + 1)``; otherwise d choices as above.

*Peak EWMA* follows Finagle's ``PeakEwma`` balancer and the tower/linkerd2-proxy
``PeakEwma`` load metric.  Each backend keeps a latency estimate ``L`` and the
time ``t`` it was last updated:

* a sample ``x`` larger than ``L`` replaces it at once (the "peak": react fast to
  a slowdown);
* a smaller sample is blended in with weight ``1 - exp(-dt / tau)``, ``dt`` the
  time since the last update, so the estimate comes down gradually (recover
  cautiously) at a pace set by ``tau`` rather than by the request rate;
* when read, the estimate is decayed toward zero by ``exp(-dt / tau)``, as both
  Finagle and tower do, so a backend that stopped receiving traffic because it
  looked slow is eventually tried again and can prove it has recovered.

The cost of a backend is ``L * (active + 1) / weight`` and the pick is two random
choices over that cost.  A backend never measured uses ``default_latency``; its
default of 30 ms and ``tau`` = 10 s are linkerd2-proxy's ``EwmaConfig`` defaults
(a moderate prior: a newcomer is tried, but is not flooded before its first
response comes back).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from lbsim.lb.algorithms.base import (
    Algorithm,
    B,
    BackendView,
    boolean,
    positive_float,
    positive_int,
)
from lbsim.lb.algorithms.weights import WeightedAlgorithm

__all__ = ["PeakEwma", "PowerOfTwoChoices", "TwoChoices"]


class TwoChoices(WeightedAlgorithm):
    """Sample ``choices`` candidates, keep the lowest ``active / weight``.

    Args:
        rng: The balancer's random stream.
        choices: How many candidates to sample, d >= 2 (default 2).
        replacement: Sample with replacement (Envoy's behaviour) instead of d
            distinct candidates (default False).
        **params: Slow start (see :class:`WeightedAlgorithm`).
    """

    name: ClassVar[str] = "two_choices"
    layers: ClassVar[frozenset[int]] = frozenset({4})

    def __init__(
        self, rng: random.Random, *, choices: int = 2, replacement: bool = False, **params: Any
    ) -> None:
        super().__init__(rng, **params)
        self.choices = positive_int(self.name, "choices", choices)
        if self.choices < 2:
            raise ValueError(
                f"{self.name}: choices must be >= 2 (one choice is the 'random' algorithm), "
                f"got {choices!r}"
            )
        self.replacement = boolean(self.name, "replacement", replacement)

    def _sample(self, n: int) -> Sequence[int]:
        """Indices of the candidates compared by one pick, in draw order.

        Used for d > 2 or with replacement; ``pick`` draws the classic two distinct
        ones itself.
        """
        if self.replacement:
            randrange = self.rng.randrange
            return [randrange(n) for _ in range(self.choices)]
        return self.rng.sample(range(n), min(self.choices, n))

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return the least loaded of the sampled candidates (first drawn on a tie)."""
        n = len(candidates)
        if n == 1:
            return candidates[0]
        book = self.weight_book
        if not book.static and book.adjusted(candidates, now):  # Envoy's unequal-weight mode
            return candidates[
                self.rotation.choose(candidates, book.request_weights(candidates, now))
            ]
        if self.choices == 2 and not self.replacement:  # the classic case, kept lean
            randrange = self.rng.randrange
            i = randrange(n)
            j = randrange(n - 1)
            a = candidates[i]
            b = candidates[j + 1 if j >= i else j]
            return b if b.active / b.weight < a.active / a.weight else a
        best = None
        best_load = 0.0
        for i in self._sample(n):
            c = candidates[i]
            load = c.active / c.weight
            if best is None or load < best_load:
                best = c
                best_load = load
        assert best is not None
        return best


class PowerOfTwoChoices(TwoChoices):
    """Layer-7 ``p2c``: two choices over in-flight requests."""

    name: ClassVar[str] = "p2c"
    layers: ClassVar[frozenset[int]] = frozenset({7})


class PeakEwma(Algorithm):
    """Two random choices over ``peak-EWMA latency * (active + 1) / weight``.

    Args:
        rng: The balancer's random stream.
        tau: Decay time constant of the moving average, seconds (default 10).
        default_latency: Latency assumed for a backend with no sample yet,
            seconds (default 0.030).
    """

    name: ClassVar[str] = "peak_ewma"
    layers: ClassVar[frozenset[int]] = frozenset({7})
    uses_key: ClassVar[bool] = False

    def __init__(
        self,
        rng: random.Random,
        *,
        tau: float = 10.0,
        default_latency: float = 0.030,
        **params: Any,
    ) -> None:
        super().__init__(rng, **params)
        self.tau = positive_float(self.name, "tau", tau)
        self.default_latency = positive_float(self.name, "default_latency", default_latency)
        # name -> [estimate (s), time of last update (s)]
        self._state: dict[str, list[float]] = {}

    def latency_estimate(self, backend: BackendView, now: float) -> float:
        """Current latency estimate of ``backend`` as seen at time ``now``.

        Args:
            backend: The backend.
            now: Current simulated time.

        Returns:
            The decayed peak-EWMA estimate in seconds, or ``default_latency``.
        """
        state = self._state.get(backend.name)
        if state is None:
            return self.default_latency
        estimate, stamp = state
        if now > stamp:
            estimate *= math.exp((stamp - now) / self.tau)
        return estimate

    def cost(self, backend: BackendView, now: float) -> float:
        """Load score used by :meth:`pick`: ``estimate * (active + 1) / weight``."""
        return self.latency_estimate(backend, now) * (backend.active + 1) / backend.weight

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return the cheaper of two distinct random candidates (first on a tie)."""
        n = len(candidates)
        if n == 1:
            return candidates[0]
        randrange = self.rng.randrange
        i = randrange(n)
        j = randrange(n - 1)
        if j >= i:
            j += 1
        a = candidates[i]
        b = candidates[j]
        return b if self.cost(b, now) < self.cost(a, now) else a

    def on_complete(self, backend: BackendView, now: float, latency: float) -> None:
        """Fold one latency sample into the backend's peak EWMA.

        Args:
            backend: The backend that answered.
            now: Completion time.
            latency: Observed latency in seconds.

        Raises:
            ValueError: If ``latency`` is negative or not finite.
        """
        if not (latency >= 0.0 and math.isfinite(latency)):
            raise ValueError(f"{self.name}: latency must be finite and >= 0, got {latency!r}")
        state = self._state.get(backend.name)
        if state is None:
            self._state[backend.name] = [latency, now]
            return
        estimate, stamp = state
        if latency > estimate:
            state[0] = latency
        else:
            w = math.exp((stamp - now) / self.tau) if now > stamp else 1.0
            state[0] = estimate * w + latency * (1.0 - w)
        state[1] = now
