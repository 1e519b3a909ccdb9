"""How often Python's cycle collector runs while lbsim simulates and builds results.

Theory of operation: lbsim's objects are freed by reference counting as soon as the
last reference goes; runs leave no cyclic garbage (``tests/engine/test_memory_cycles.py``
checks every bundled scenario at both levels). The cycle collector therefore finds
next to nothing during a run, but with Python's default thresholds (700, 10, 10) it
walks the ever larger set of objects that are alive but old -- records, connections
in TIME_WAIT, the NAT table's lingering entries -- again and again: once per
generation they pass through, and every time the oldest generation is collected.
Measured on a 40 s run of the AsyncFlow workload at request level, both variants,
the collector took about a quarter of a ``lbsim run``'s wall time, most of it in
two places: recording the connections at the end of each variant, and tallying the
summary with both variants' records alive (one full collection of 0.6 s).

:func:`rare_collections` raises the thresholds for a block: the young generation
is collected every :data:`YOUNG` net allocations and the older ones ten times less
often each, as before. Cycles are still found (matplotlib's figures are full of
them), only later: at most about :data:`YOUNG` young objects wait for the
collector. Blocks nest; each restores the thresholds it found.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG", "rare_collections"]

#: Net allocations between two collections of the young generation (Python: 700).
#: 200,000 rather than 50,000 took the collector from about 12 % to about 3 % of a
#: TLS-heavy run (tls_bottleneck, L7) with the same peak memory (docs/design.md,
#: "Speed").
YOUNG = 200_000
#: Collections of a generation between two of the next older one (Python: 10, 10).
OLDER = (10, 10)


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect cyclic garbage rarely inside the block; restore the thresholds after."""
    found = gc.get_threshold()
    gc.set_threshold(YOUNG, *OLDER)
    try:
        yield
    finally:
        gc.set_threshold(*found)
