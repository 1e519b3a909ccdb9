"""Circuit breakers of a layer-7 balancer: concurrency limits per backend group.

Theory of operation: Envoy's circuit breakers are limits on what one upstream
cluster may have outstanding -- ``max_requests`` requests in progress and
``max_pending_requests`` requests waiting for a pooled connection -- and a
request that would go over a limit is not queued but answered ``503`` at once
("overflow"), so a slow group cannot tie up the proxy's memory and every
client's patience (Envoy docs, "Circuit breaking"). They are not the
open/half-open/closed state machine of the software pattern: there is no
memory, the check is made afresh for every request.

The proxy asks :meth:`CircuitBreakers.admits` after the algorithm picked a
backend and before it is counted active. Requests in progress to a group are
the sum of its backends' ``active`` counts (the proxy keeps them for
least-request balancing, and they include requests waiting for a pooled
connection); pending ones are those in the group's pool wait queues. Each
refusal counts a trip of that group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Protocol

from lbsim.lb.backends import BackendRef

if TYPE_CHECKING:
    from lbsim.scenario.breakers import CircuitBreakerConfig

__all__ = ["CircuitBreakers"]


class _PoolView(Protocol):
    """What a breaker reads of a backend's pool: who waits, idle connections, size."""

    @property
    def waiters(self) -> Sized: ...
    @property
    def idle(self) -> Sized: ...
    @property
    def open(self) -> int: ...


class CircuitBreakers:
    """The limits of every backend group that has some, and their trip counts.

    Attributes:
        limits: Group -> its limits.
        trips: Group -> requests refused so far (503).
    """

    def __init__(self, limits: Mapping[str, CircuitBreakerConfig]) -> None:
        self.limits = dict(limits)
        self.trips: dict[str, int] = dict.fromkeys(self.limits, 0)

    def admits(
        self,
        backend: BackendRef,
        backends: Sequence[BackendRef],
        pools: Mapping[str, _PoolView],
        pool_max: int | None,
    ) -> bool:
        """Whether one more request may go to ``backend`` (else count a trip).

        Args:
            backend: The backend the algorithm picked.
            backends: Every backend of the balancer (the group's are counted).
            pools: Pool of each backend, by name.
            pool_max: The pool size limit per backend (None: unlimited, never waits).
        """
        limit = self.limits.get(backend.group)
        if limit is None:
            return True
        group = [b for b in backends if b.group == backend.group]
        refused = False
        if limit.max_requests is not None:
            refused = sum(b.active for b in group) >= limit.max_requests
        if not refused and limit.max_pending_requests is not None:
            pool = pools[backend.name]
            waits = not pool.idle and pool_max is not None and pool.open >= pool_max
            if waits:
                pending = sum(len(pools[b.name].waiters) for b in group)
                refused = pending >= limit.max_pending_requests
        if refused:
            self.trips[backend.group] += 1
        return not refused

    def counters(self) -> dict[str, float]:
        """``lb.breaker_trips`` in all and ``lb.breaker_trips.<group>`` per group."""
        out: dict[str, float] = {"lb.breaker_trips": float(sum(self.trips.values()))}
        for group, count in sorted(self.trips.items()):
            out[f"lb.breaker_trips.{group}"] = float(count)
        return out
