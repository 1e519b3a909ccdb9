"""When Python's cycle collector runs: rarely during a command, once after a sweep run.

Theory of operation: during a run lbsim makes millions of short-lived objects, freed
by reference counting as soon as their last reference goes (finished connections
leave no cyclic garbage: ``tests/engine/test_memory_cycles.py``), while it holds
many long-lived ones: records, connections in TIME_WAIT, lingering NAT entries.
With Python's default thresholds (700, 10, 10) the collector walks those long-lived
objects again and again and finds nothing. :func:`rare_collections` collects the
young generation only every :data:`YOUNG` net allocations inside a block:
:meth:`lbsim.run.variant.VariantBuild.run` uses it around the event loop and the
end of the run, which writes a record for every connection still open (for
notebooks, tests and sweep workers, which call it directly), and every ``lbsim``
command around its whole work, recording and writing the results included.

A run's own structure (the SimPy environment and its processes, hosts and links
that refer to each other, connections still open at the end) is a large cyclic
graph. While only a full collection freed it, keeping the thresholds raised beyond
the events made finished runs wait: ``lbsim figures --only tls_knee`` (18 runs in one
process) peaked at 526 MB instead of 367 MB. Now a finished run takes itself apart
(:meth:`lbsim.run.variant.VariantBuild.discard`) and reference counting frees it,
so the whole command can collect rarely: a ``lbsim run`` of the AsyncFlow workload
(40 s, request level, two variants) takes 4.8 s instead of 5.8 s, and that sweep
27 s at 195 MB instead of 36 s at 227 MB. A sweep's run is also wrapped in
:func:`freed_after`, which collects once when the run is done, walking only the
objects made during it (the hosts and links of the run, a few hundred).
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
