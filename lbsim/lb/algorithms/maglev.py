"""Maglev consistent hashing (layer 4).

Theory of operation
-------------------
Source: D. E. Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
Balancer", NSDI 2016, section 3.4 and its Pseudocode 1.

A lookup table of prime size M maps ``key % M`` to a backend.  Each backend has a
preference list, a permutation of ``0..M-1`` given by two hashes of its name:
``offset = h1(name) mod M``, ``skip = h2(name) mod (M - 1) + 1`` and
``permutation[j] = (offset + j * skip) mod M`` (a full permutation because M is
prime and 0 < skip < M).  The table is filled in rounds: in every round each
backend in turn claims the next entry of its preference list that is still empty,
until all M entries are taken.  Hence:

* every backend gets ``floor(M/N)`` or ``ceil(M/N)`` entries (they differ by at
  most 1), i.e. near-perfect balance, unlike a ring with few virtual nodes;
* after a backend leaves, the others mostly reclaim the same entries, so a little
  more than 1/N of the keys move (about 10.2 % for N = 10, M = 65537).

Backends are processed in name order, so the table depends on the candidate set
only, not on the order in which the balancer lists it.

Weights (optional in the paper's terms) use a credit scheme: each round a backend
earns ``weight / max_weight`` credit and takes a turn only when it has a whole
unit, so the heaviest backend claims one entry per round and the others
proportionally fewer.  With equal weights this is exactly Pseudocode 1.

With ``balance_factor: c`` the table has *bounded loads* (:mod:`.bounded`): when
the key's entry names a backend already holding ``ceil(c * average)`` in flight,
the pick walks on to the following entries (which name backends in a
pseudo-random order) until one has room (Envoy's ``maglev`` with
``hash_balance_factor`` probes by random jumps instead).  At layer 7 the key
comes from ``hash_on``, as for ``consistent_hash``.

Building the table costs about ``M ln M`` probes (≈0.1-0.2 s in CPython for
M = 65537); it happens only when names or weights change, and the last few tables
are cached for backends that flap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
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
from lbsim.lb.algorithms.keys import stable_hash

__all__ = ["DEFAULT_TABLE_SIZE", "Maglev", "build_maglev_table", "is_prime"]

DEFAULT_TABLE_SIZE = 65537
_CACHE_SIZE = 8
# A backend takes a turn once its credit reaches one unit; the slack absorbs the
# rounding of repeated float additions (ten times 0.1 is 0.9999999999999999).
_WHOLE_TURN = 1.0 - 1e-9

# Deterministic Miller-Rabin witnesses: correct for every n < 3.3e24.
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)

Signature = tuple[tuple[str, ...], tuple[float, ...]]


def is_prime(n: int) -> bool:
    """Return whether ``n`` is prime (deterministic Miller-Rabin).

    Args:
        n: Integer to test (< 3.3e24 for a guaranteed answer).
    """
    if n < 2:
        return False
    for p in _WITNESSES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def build_maglev_table(names: Sequence[str], weights: Sequence[float], size: int) -> list[int]:
    """Populate a Maglev lookup table.

    Args:
        names: Backend names, unique.
        weights: Their weights (> 0), same order.
        size: Table size M, prime and >= len(names).

    Returns:
        A list of length ``size`` whose entries are indices into ``names``.

    Raises:
        ValueError: If names repeat, ``size`` is not prime or is smaller than the
            number of backends.
    """
    n = len(names)
    if len(set(names)) != n:
        raise ValueError(f"maglev: backend names must be unique, got {list(names)}")
    if not is_prime(size):
        raise ValueError(f"maglev: table_size must be prime, got {size}")
    if size < n:
        raise ValueError(f"maglev: table_size ({size}) must be >= number of backends ({n})")
    order = sorted(range(n), key=lambda i: names[i])
    position = [stable_hash("maglev-offset", names[i]) % size for i in order]
    skip = [stable_hash("maglev-skip", names[i]) % (size - 1) + 1 for i in order]
    heaviest = max(weights)
    share = [weights[i] / heaviest for i in order]
    credit = [0.0] * n
    everyone_every_round = all(s == 1.0 for s in share)
    table = [-1] * size
    filled = 0
    while True:
        for k in range(n):
            if not everyone_every_round:
                credit[k] += share[k]
                if credit[k] < _WHOLE_TURN:
                    continue
                credit[k] -= 1.0
            c = position[k]
            step = skip[k]
            while table[c] >= 0:
                c += step
                if c >= size:
                    c -= size
            table[c] = order[k]
            c += step
            position[k] = c - size if c >= size else c
            filled += 1
            if filled == size:
                return table


class Maglev(Algorithm):
    """Maglev lookup-table hashing: ``table[key % table_size]``.

    Args:
        rng: The balancer's random stream (unused).
        table_size: Lookup-table size M; must be prime (default 65537) and, when
            picking, at least the number of candidates.
        balance_factor: Bounded loads: no backend takes new work once it holds
            ``ceil(balance_factor * average)`` in flight (None, the default: off).

    Attributes:
        spills: Picks that went past the key's own entry because its backend was full.

    Raises:
        ValueError: If ``table_size`` is not a prime integer.
    """

    name: ClassVar[str] = "maglev"
    layers: ClassVar[frozenset[int]] = frozenset({4, 7})
    refused_params: ClassVar[dict[str, str]] = dict.fromkeys(SLOW_START_PARAMS, NOT_FOR_HASHING)

    def __init__(
        self,
        rng: random.Random,
        *,
        table_size: int = DEFAULT_TABLE_SIZE,
        balance_factor: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__(rng, **params)
        self.table_size = positive_int(self.name, "table_size", table_size)
        if not is_prime(self.table_size):
            raise ValueError(f"{self.name}: table_size must be prime, got {table_size}")
        self.balance_factor = check_balance_factor(self.name, balance_factor)
        self.spills = 0
        self._signature: Signature | None = None
        self._table: list[int] = []
        self._cache: LruCache[Signature, list[int]] = LruCache(_CACHE_SIZE)

    def table_for(self, candidates: Sequence[B]) -> list[int]:
        """Return the lookup table (indices into ``candidates``), building it if needed.

        Raises:
            ValueError: If there are more candidates than table entries or names repeat.
        """
        signature = (tuple([c.name for c in candidates]), tuple([c.weight for c in candidates]))
        if signature != self._signature:
            table = self._cache.get(signature)
            if table is None:
                table = build_maglev_table(signature[0], signature[1], self.table_size)
                self._cache.put(signature, table)
            self._signature = signature
            self._table = table
        return self._table

    def lookup_table(self, candidates: Sequence[B]) -> list[str]:
        """The table as backend names, entry by entry (for tests and figures)."""
        names = [c.name for c in candidates]
        return [names[i] for i in self.table_for(candidates)]

    def pick(self, candidates: Sequence[B], now: float, key: int | None = None) -> B:
        """Return ``candidates[table[key % table_size]]``.

        Raises:
            ValueError: If ``key`` is None or the table cannot be built.
        """
        index = require_key(self.name, key) % self.table_size
        table = self.table_for(candidates)
        home = table[index]
        if self.balance_factor is None:
            return candidates[home]
        size = self.table_size
        walk = (table[k - size if k >= size else k] for k in range(index, index + size))
        chosen = first_with_room(candidates, walk, self.balance_factor)
        if chosen != home:
            self.spills += 1
        return candidates[chosen]
