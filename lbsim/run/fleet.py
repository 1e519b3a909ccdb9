"""A tier's instances seen as one balancer, and their CPUs as one processor.

Theory of operation: a run samples and counts "the balancer" of its variant
(table entries, buffered bytes, CPU utilisation and queueing). On a topology the
variant's balancer is a tier of several instances, each its own
:class:`~lbsim.lb.base.Balancer` with its own :class:`~lbsim.host.cpu.Cpu`.
:class:`Fleet` presents them through the same interface: table entries and bytes
held are summed over the instances (so ``peak_table_entries`` of a fleet is the
sum of its instances' peaks, an upper bound of the fleet's peak at any one time);
changes go to every instance; :meth:`Fleet.stacks` lists the stacks of every
instance of every tier, for the run's TCP totals. :class:`CpuFleet` sums the
instances' cores and work, so utilisation is the fleet's mean.
"""

from __future__ import annotations

from collections import Counter

from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Balancer
from lbsim.net.segment import Segment

__all__ = ["CpuFleet", "Fleet"]


class CpuFleet(Cpu):
    """Several instances' CPUs read as one (cores and work summed)."""

    def __init__(self, cpus: list[Cpu]) -> None:
        super().__init__(sum(c.cores for c in cpus))
        self.cpus = cpus

    def run(self, now: float, cost: float) -> float:  # pragma: no cover - never given work
        """A fleet is only read; work goes to an instance's own CPU."""
        raise RuntimeError("a CPU fleet is read, never given work")

    def busy_by(self, t: float) -> float:
        """Core-seconds done by ``t`` over every instance."""
        return sum(c.busy_by(t) for c in self.cpus)

    def backlog(self, now: float) -> float:
        """Mean, over the instances, of the queueing delay a new job would see."""
        return sum(c.backlog(now) for c in self.cpus) / len(self.cpus)

    @property
    def waited(self) -> float:
        """Seconds jobs waited for a core, over every instance."""
        return sum(c.waited for c in self.cpus)

    @waited.setter
    def waited(self, _value: float) -> None:
        return  # set by Cpu.__init__ only

    @property
    def jobs(self) -> int:
        """Jobs run, over every instance."""
        return sum(c.jobs for c in self.cpus)

    @jobs.setter
    def jobs(self, _value: int) -> None:
        return  # set by Cpu.__init__ only


def _refuse(seg: Segment, now: float) -> None:  # pragma: no cover - never attached
    raise RuntimeError("links attach to a fleet's instances, not to the fleet")


class Fleet(Balancer):
    """The instances of the variant's tier as one balancer (see the module docstring).

    Attributes:
        instances: The variant tier's instances.
        tiers: Every tier's instances, by tier name (for stacks and finalising).
    """

    def __init__(
        self, name: str, layer: int, instances: list[Balancer], tiers: dict[str, list[Balancer]]
    ) -> None:
        self.name = name
        self.layer = layer
        self.instances = instances
        self.tiers = tiers
        seen: dict[str, BackendRef] = {}
        for lb in instances:
            for ref in lb.backends:
                seen.setdefault(ref.name, ref)
        self.backends = list(seen.values())
        self.client_receive = _refuse
        self.backend_receive = _refuse

    def _all(self) -> list[Balancer]:
        return [lb for lbs in self.tiers.values() for lb in lbs]

    def stacks(self) -> list[TcpStack]:
        """Every stack of every instance of every tier."""
        return [stack for lb in self._all() for stack in lb.stacks()]

    def health_stack(self) -> TcpStack:  # pragma: no cover - never asked
        """Each instance checks from its own stack (:mod:`lbsim.run.tier_health`)."""
        raise NotImplementedError("each instance of a tier runs its own health checks")

    def backends_changed(self, *_args: object) -> None:
        """Tell every instance."""
        for lb in self.instances:
            lb.backends_changed()

    def drain_backend(self, backend: BackendRef) -> None:
        """Scale in: every instance of the last tier drains its own ref of the backend."""
        for lb in list(self.tiers.values())[-1]:
            for ref in lb.backends:
                if ref.name == backend.name:
                    lb.drain_backend(ref)

    def add_backend(self, backend: BackendRef) -> bool:  # pragma: no cover - refused
        """Backends are added per instance (:func:`lbsim.run.tier_health.scale_out_tier`)."""
        raise NotImplementedError("a fleet's instances each get their own ref of a backend")

    def restart(self, now: float, downtime: float) -> None:
        """Every instance of the tier restarts."""
        for lb in self.instances:
            lb.restart(now, downtime)

    def placement(self, client_ip: int, client_port: int) -> str | None:
        """The backend an instance placed the connection on (the first that knows)."""
        for lb in self.instances:
            found = lb.placement(client_ip, client_port)
            if found is not None:
                return found
        return None

    @property
    def table_entries(self) -> int:
        """Entries over every instance."""
        return sum(lb.table_entries for lb in self.instances)

    @property
    def peak_entries(self) -> int:
        """Sum of the instances' peaks."""
        return sum(lb.peak_entries for lb in self.instances)

    @property
    def buffered_bytes(self) -> int:  # type: ignore[override]
        """Bytes held over every instance."""
        return sum(lb.buffered_bytes for lb in self.instances)

    @property
    def peak_buffer(self) -> int:  # type: ignore[override]
        """Sum of the instances' peaks."""
        return sum(lb.peak_buffer for lb in self.instances)

    def table_counts(self) -> dict[str, int]:
        """Entries by state over every instance."""
        total: Counter[str] = Counter()
        for lb in self.instances:
            total.update(lb.table_counts())
        return dict(total)

    def counters(self) -> dict[str, float]:
        """Every ``lb.*`` counter summed over the tier's instances."""
        total: dict[str, float] = {}
        for lb in self.instances:
            for key, value in lb.counters().items():
                total[key] = total.get(key, 0) + value
        return total

    def finalize(self, now: float) -> None:
        """Every instance of every tier writes what is still open."""
        for lb in self._all():
            lb.finalize(now)

    def discard(self) -> None:
        """Every instance of every tier drops its tables."""
        for lb in self._all():
            lb.discard()
