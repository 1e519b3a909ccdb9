"""Consistent hashing with bounded loads: the cap and the walk past full backends.

Theory of operation
-------------------
Source: V. Mirrokni, M. Thorup and M. Zadimoghaddam, "Consistent Hashing with
Bounded Loads", SODA 2018 (arXiv:1608.01350); deployed by Vimeo in HAProxy as
``hash-balance-factor`` and by Envoy as ``hash_balance_factor``.

Plain consistent hashing sends every request of a key to the key's home backend,
so a hot key, or an unlucky share of the ring, makes a hot spot.  With a balance
factor ``c >= 1``, a backend may hold at most ``ceil(c * average)`` of the work in
flight, where the average counts the item being placed::

    cap_i = ceil(c * (total_active + 1) * w_i / sum(w))      (= ceil(c * (m+1)/n) unweighted)

A pick starts where plain hashing would (the key's ring point, or Maglev table
entry) and walks on, ring point after ring point or entry after entry, to the
first backend whose in-flight count is still below its cap.  Such a backend
always exists: the caps add up to at least ``c * (total + 1) > total``, so not
every backend can be full.  Keys keep their home backend while it has room, so
affinity is lost only for the overflow, and every pick lands on a backend that
holds at most ``cap_i`` afterwards.

The in-flight counts are the ones least connections / least request read:
``backend.active`` is maintained by the balancer (live connections at layer 4,
in-flight requests at layer 7), so bounded loads need nothing new from it.
(The walk is linear as in HAProxy; Envoy jumps randomly along the ring instead,
which spreads the overflow of one backend more widely.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lbsim.lb.algorithms.base import B

__all__ = ["check_balance_factor", "first_with_room"]


def check_balance_factor(algorithm: str, value: object) -> float | None:
    """Validate the ``balance_factor`` parameter (None: bounded loads off).

    Raises:
        ValueError: If it is not a number in [1, 100).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1.0 <= value < 100.0:
        raise ValueError(
            f"{algorithm}: balance_factor must be a number >= 1 (1.25 lets a backend hold "
            f"25% more than the average; HAProxy's hash-balance-factor 125), got {value!r}"
        )
    return float(value)


def first_with_room(candidates: Sequence[B], order: Iterable[int], factor: float) -> int:
    """Index of the first candidate along ``order`` whose in-flight count is below its cap.

    Args:
        candidates: The candidates, with ``active`` and ``weight``.
        order: Candidate indices in walk order (repeats allowed); must reach every
            candidate eventually for the guarantee to hold.
        factor: The balance factor c >= 1.

    Returns:
        The index chosen; if the walk ends without room anywhere (only possible
        through float rounding), the candidate with the lowest ``active / weight``.
    """
    total = 0
    weight_sum = 0.0
    for c in candidates:
        total += c.active
        weight_sum += c.weight
    slots = factor * (total + 1) / weight_sum
    # active + 1 <= ceil(x)  <=>  active < x, for an integer active.
    for i in order:
        c = candidates[i]
        if c.active < slots * c.weight:
            return i
    return min(range(len(candidates)), key=lambda i: candidates[i].active / candidates[i].weight)
