"""A balancer's processor: a few cores doing work first-come, first-served.

Theory of operation: every CPU-consuming step of a balancer (forwarding a segment,
parsing a request, ...) is a job of known cost. Jobs go to the core that frees up
first, in arrival order, and :meth:`Cpu.run` returns when the job finishes, so the
caller schedules what follows at that time (or hands a segment to a link with that
ready time). No event is needed for the CPU itself: with FIFO, non-preemptive
service the finish time is known the moment the job arrives. Saturation therefore
appears by itself -- when work arrives faster than ``cores`` can do it, finish
times drift ever further past ``now``.
"""

from __future__ import annotations


class Cpu:
    """FIFO multi-core processor.

    Attributes:
        cores: Number of cores.
        busy: Core-seconds of work accepted so far.
        waited: Total seconds jobs spent waiting for a core.
        jobs: Jobs accepted.
        free: When each core is next free. A hot path that runs its jobs on a
            one-core CPU inline (:meth:`lbsim.lb.l4.L4Balancer.receive`) updates
            it, ``busy``, ``waited`` and ``jobs`` exactly as :meth:`run` does.
    """

    __slots__ = ("busy", "cores", "free", "jobs", "waited")

    def __init__(self, cores: int = 1) -> None:
        if cores < 1:
            raise ValueError("a CPU needs at least one core")
        self.cores = cores
        self.free = [0.0] * cores
        self.busy = 0.0
        self.waited = 0.0
        self.jobs = 0

    def run(self, now: float, cost: float) -> float:
        """Queue a job of ``cost`` seconds arriving at ``now``; return its finish time."""
        free = self.free
        if self.cores == 1:
            start = free[0]
            if start < now:
                start = now
            end = start + cost
            free[0] = end
        else:
            i = free.index(min(free))
            start = free[i]
            if start < now:
                start = now
            end = start + cost
            free[i] = end
        self.busy += cost
        self.waited += start - now
        self.jobs += 1
        return end

    def busy_by(self, t: float) -> float:
        """Core-seconds of work actually done by time ``t`` (not merely queued).

        Each core works without a break from when it last became busy until its
        ``free`` time, so the part of the accepted work still ahead at ``t`` is
        ``max(0, free - t)`` per core.
        """
        free = self.free
        if self.cores == 1:  # the usual case, sampled often: the sum below without a generator
            return self.busy - (free[0] - t) if free[0] > t else self.busy
        return self.busy - sum(f - t for f in free if f > t)

    def backlog(self, now: float) -> float:
        """Seconds until the least-loaded core is free (queueing delay a new job sees)."""
        return max(0.0, min(self.free) - now)
