"""How often Python's cycle collector runs while a variant's events are simulated.

Theory of operation: during a run lbsim makes millions of short-lived objects, freed
by reference counting as soon as their last reference goes (finished connections
leave no cyclic garbage: ``tests/engine/test_memory_cycles.py``), while it holds
many long-lived ones: records, connections in TIME_WAIT, lingering NAT entries.
With Python's default thresholds (700, 10, 10) the collector walks those long-lived
objects again and again and finds nothing. :func:`rare_collections` collects the
young generation only every :data:`YOUNG` net allocations inside a block;
:meth:`lbsim.run.variant.VariantBuild.run` uses it around the event loop.

Why only the event loop: the run's own structure (the SimPy environment and its
processes, hosts and links that refer to each other, connections still open at the
end) is one large cyclic graph, which only a collection of the oldest generation
frees once the run is over. Keeping the thresholds raised beyond the event loop
(the recording of the connections, the summary, a whole command) saved about 1.1 s
of collections in a ``lbsim run`` of the AsyncFlow workload (40 s, request level,
two variants), but the finished runs of a serial sweep then waited longer to be
freed: ``lbsim figures --only tls_knee`` (18 runs in one process) peaked at 526 MB
instead of 367 MB. Tearing the run's graph down so that reference counting frees it
would give both; until then the thresholds go back to Python's as the events end,
and a sweep's worker frees each finished run with one collection of that run's
objects alone before the next (:func:`lbsim.sweep.worker.run_task`), which brought
that peak down to 236 MB.
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
    """Collect cyclic garbage rarely inside the block; restore the thresholds after.

    Cycles are still collected inside the block, only later: at most about
    :data:`YOUNG` young objects wait for the collector. Blocks nest; each restores
    the thresholds it found.
    """
    found = gc.get_threshold()
    gc.set_threshold(YOUNG, *OLDER)
    try:
        yield
    finally:
        gc.set_threshold(*found)
