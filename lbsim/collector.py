"""When Python's cycle collector runs: rarely during a run's events, once after a sweep run.

Theory of operation: during a run lbsim makes millions of short-lived objects, freed
by reference counting as soon as their last reference goes (finished connections
leave no cyclic garbage: ``tests/engine/test_memory_cycles.py``), while it holds
many long-lived ones: records, connections in TIME_WAIT, lingering NAT entries.
With Python's default thresholds (700, 10, 10) the collector walks those long-lived
objects again and again and finds nothing. :func:`rare_collections` collects the
young generation only every :data:`YOUNG` net allocations inside a block;
:meth:`lbsim.run.variant.VariantBuild.run` uses it around the event loop.

Only around the event loop: the run's own structure (the SimPy environment and its
processes, hosts and links that refer to each other, connections still open at the
end) is one large cyclic graph, which only a collection of the oldest generation
frees once the run is over. Keeping the thresholds raised beyond the events saved
about 1.1 s of a ``lbsim run`` of the AsyncFlow workload (40 s, request level, two
variants), but the finished runs of a serial sweep then waited longer to be freed:
``lbsim figures --only tls_knee`` (18 runs in one process) peaked at 526 MB instead
of 367 MB. A sweep's run is instead wrapped in :func:`freed_after`, which collects
once when the run is done, walking only the objects made during it: that sweep now
peaks at 236 MB in the same time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG", "freed_after", "rare_collections"]

#: Net allocations between two collections of the young generation (Python: 700).
#: 200,000 rather than 50,000 took the collector from about 12 % to about 3 % of a
#: TLS-heavy run (tls_bottleneck, L7) with the same peak memory (docs/design.md,
#: "Speed").
YOUNG = 200_000


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect cyclic garbage rarely inside the block; restore the thresholds after.

    Cycles are still collected inside the block, only later: at most about
    :data:`YOUNG` young objects wait for the collector. Blocks nest; each restores
    the thresholds it found.
    """
    found = gc.get_threshold()
    gc.set_threshold(YOUNG, *found[1:])
    try:
        yield
    finally:
        gc.set_threshold(*found)


@contextmanager
def freed_after() -> Iterator[None]:
    """Collect the cyclic garbage the block made, once, when it ends.

    What was alive before the block is frozen (``gc.freeze``) meanwhile, so that
    collection, and any during the block, walk only the objects made inside it --
    not, say, the results an in-process ``lbsim figures`` holds for its other
    figures. If something else froze objects already, its freeze is left as it is
    and the collection walks everything.
    """
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        yield
        gc.collect()
    finally:
        if freeze:
            gc.unfreeze()
