"""Passive outlier detection: eject backends that keep failing real requests.

Theory of operation: an L7 balancer sees every response, so it can notice a
backend going bad from the traffic itself, without probes (concept C19): after
``consecutive`` failures in a row -- 5xx answers or upstream connections that
broke -- the backend is *ejected* (no new requests) for ``base`` seconds, and for
n times that on its n-th ejection, then returns on probation. At most
``max_percent`` of the backends are ejected at once (one always may be), so a
widespread problem cannot empty the pool. This is Envoy's scheme with its
defaults (5 failures, 30 s, 10%). Sans-IO: every call takes ``now``.
"""

from __future__ import annotations

import math

from lbsim.lb.backends import BackendRef


class OutlierDetector:
    """Counts consecutive failures per backend and ejects outliers.

    Attributes:
        ejections: Ejections decided, over the run.
    """

    def __init__(
        self, backends: list[BackendRef], consecutive: int, base: float, max_percent: float
    ) -> None:
        self.backends = backends
        self.consecutive = consecutive
        self.base = base
        self.max_percent = max_percent
        self._streak: dict[str, int] = {}
        self.ejections = 0

    def success(self, backend: BackendRef, now: float) -> None:
        """A good response from ``backend``: its failure streak ends."""
        self._streak[backend.name] = 0

    def failure(self, backend: BackendRef, now: float) -> bool:
        """A failed request on ``backend``; returns whether it is ejected now."""
        streak = self._streak.get(backend.name, 0) + 1
        self._streak[backend.name] = streak
        if streak < self.consecutive or backend.ejected_until > now:
            return False
        ejected = sum(1 for b in self.backends if b.ejected_until > now)
        allowed = max(1, math.floor(self.max_percent / 100 * len(self.backends)))
        if ejected >= allowed:
            return False
        backend.ejections += 1
        backend.ejected_until = now + self.base * backend.ejections
        self._streak[backend.name] = 0
        self.ejections += 1
        return True
