"""Key-affine algorithms: modulo hashing and a consistent-hash ring.

Theory of operation
-------------------
Both map a 64-bit ``key`` (a hash of the client address/port at L4, of a header
or cookie at L7) to a backend, so the same key keeps landing on the same backend
while the candidate set is unchanged.  They differ in what happens when the set
changes.

*Source hash* is ``candidates[key % n]``: when n changes, almost every key gets a
new residue, so about (n-1)/n of the keys move (docs/validation.md, "Hashing when a
backend leaves").  Weights are ignored.

*Consistent hashing* (Karger et al., STOC 1997) places ``vnodes`` points per
backend on a 64-bit circle (``stable_hash(name, i)``); a key goes to the owner of
the first point at or after it, found by binary search over the sorted points.
Removing a backend removes only its points, so only the keys it owned (about 1/n)
move, and every other key stays put.  The number of points is proportional to
weight, ``round(vnodes * weight / mean_weight)`` (at least 1), so equal weights
give exactly ``vnodes`` each; with V points per backend the share of one backend
has a relative standard deviation of about 1/sqrt(V) (8 % for V = 160).  The key
is scrambled with ``mix64`` first so that small or structured integers still
spread over the whole circle.

With ``balance_factor: c`` the ring has *bounded loads* (:mod:`.bounded`): a key
whose home backend is full (another item would take it past ``ceil(c * average)``
in flight) walks on along the ring to the next backend with room (HAProxy's
``hash-balance-factor``; Envoy's ``ring_hash`` with ``hash_balance_factor`` jumps
randomly along the ring instead).

The ring depends only on the names and weights of the candidates; it is rebuilt
when those change (the last few rings are cached, so a flapping backend costs a
lookup).  Points are hashed from names, so the ring does not depend on the order
of the candidates.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lbsim.lb.algorithms.base import (
    NOT_FOR_HASHING,
    SLOW_START_PARAMS,
    Algorithm,
    B,
    positive_int,
    require_key,
)
from lbsim.lb.algorithms.bounded import check_balance_factor, first_with_room
from lbsim.lb.algorithms.cache import LruCache
from lbsim.lb.algorithms.keys import mix64, stable_hash

__all__ = ["ConsistentHash", "Ring", "SourceHash", "build_ring"]

_CACHE_SIZE = 8

Signature = tuple[tuple[str, ...], tuple[float, ...]]


class SourceHash(Algorithm):
    """Modulo hashing: ``candidates[key % len(candidates)]``.

    Args:
        rng: The balancer's random stream (unused).
    """

    name: ClassVar[str] = "source_hash"
    layers: ClassVar[frozenset[int]] = frozenset({4})
    refused_params: ClassVar[dict[str, str]] = dict.fromkeys(SLOW_START_PARAMS, NOT_FOR_HASHING)

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return ``candidates[key % n]``.

        Raises:
            ValueError: If ``key`` is None.
        """
        return candidates[require_key(self.name, key) % len(candidates)]


@dataclass(frozen=True, slots=True)
class Ring:
    """A built hash ring.

    Attributes:
        points: Sorted positions on the 64-bit circle.
        owners: ``owners[i]`` is the index (in the candidate order the ring was
            built for) of the backend owning ``points[i]``.
    """

    points: list[int]
    owners: list[int]

    def lookup(self, position: int) -> int:
        """Index of the backend owning the first point at or after ``position``."""
        i = bisect_left(self.points, position)
        if i == len(self.points):
            i = 0
        return self.owners[i]

    def walk(self, position: int) -> Iterator[int]:
        """Owners of the points from ``position`` on, once around the circle."""
        points = len(self.points)
        start = bisect_left(self.points, position)
        owners = self.owners
        for k in range(start, start + points):
            yield owners[k - points if k >= points else k]


def build_ring(names: Sequence[str], weights: Sequence[float], vnodes: int) -> Ring:
    """Build a consistent-hash ring.

    Args:
        names: Backend names, unique.
        weights: Their weights (> 0), same order.
        vnodes: Points per backend of average weight.

    Returns:
        The ring; owners are indices into ``names``.

    Raises:
        ValueError: If names repeat.
    """
    if len(set(names)) != len(names):
        raise ValueError(f"consistent_hash: backend names must be unique, got {list(names)}")
    mean_weight = sum(weights) / len(weights)
    placed: list[tuple[int, str, int]] = []
    for index, (backend, weight) in enumerate(zip(names, weights, strict=True)):
        count = max(1, round(vnodes * weight / mean_weight))
        placed.extend((stable_hash(backend, v), backend, index) for v in range(count))
    placed.sort()  # ties (never seen in practice) broken by name: order-independent
    return Ring(points=[p[0] for p in placed], owners=[p[2] for p in placed])


class ConsistentHash(Algorithm):
    """Hash ring with virtual nodes and binary search.

    Args:
        rng: The balancer's random stream (unused).
        vnodes: Virtual nodes per backend of average weight (default 160).
        balance_factor: Bounded loads: no backend takes new work once it holds
            ``ceil(balance_factor * average)`` in flight (None, the default: off).

    Attributes:
        spills: Picks that went past the key's home backend because it was full.
    """

    name: ClassVar[str] = "consistent_hash"
    layers: ClassVar[frozenset[int]] = frozenset({4, 7})
    refused_params: ClassVar[dict[str, str]] = dict.fromkeys(SLOW_START_PARAMS, NOT_FOR_HASHING)

    def __init__(
        self,
        rng: random.Random,
        *,
        vnodes: int = 160,
        balance_factor: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__(rng, **params)
        self.vnodes = positive_int(self.name, "vnodes", vnodes)
        self.balance_factor = check_balance_factor(self.name, balance_factor)
        self.spills = 0
        self._signature: Signature | None = None
        self._ring: Ring | None = None
        self._cache: LruCache[Signature, Ring] = LruCache(_CACHE_SIZE)

    def ring_for(self, candidates: Sequence[B]) -> Ring:
        """Return the ring for this candidate list (cached; rebuilt on set change)."""
        signature = (tuple([c.name for c in candidates]), tuple([c.weight for c in candidates]))
        if signature != self._signature or self._ring is None:
            ring = self._cache.get(signature)
            if ring is None:
                ring = build_ring(signature[0], signature[1], self.vnodes)
                self._cache.put(signature, ring)
            self._signature = signature
            self._ring = ring
        return self._ring

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return the owner of the first ring point at or after ``mix64(key)``.

        Raises:
            ValueError: If ``key`` is None.
        """
        position = mix64(require_key(self.name, key))
        ring = self.ring_for(candidates)
        home = ring.lookup(position)
        if self.balance_factor is None:
            return candidates[home]
        chosen = first_with_room(candidates, ring.walk(position), self.balance_factor)
        if chosen != home:
            self.spills += 1
        return candidates[chosen]
