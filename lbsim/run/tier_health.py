"""Health checks and scaling of backends when the balancer is a tier of instances.

Theory of operation: in a star the one balancer checks its backends and learns of
backends added or drained. In a topology the last tier's instances are what
balances over the backends, and each is its own balancer with its own view: its
own :class:`~lbsim.lb.backends.BackendRef` of every backend (own link, own
``healthy`` and ``draining`` flags). So

* **health checks** run per instance: every instance of the last tier whose
  balancer entry has ``health_check`` runs its own
  :class:`~lbsim.lb.health.HealthChecker` from its own stack and inside address,
  and marks its own refs up or down (as each HAProxy or Envoy of a fleet does:
  instances may disagree for a moment, since their probes are not
  synchronised). :class:`HealthFleet` presents them to the run as one checker:
  counts summed, ``remove`` passed to each;
* **scale out** (``add_backend``): the new backend hangs off its service's router
  like the others; the router learns its address, and every instance of the last
  tier gets a ref of it over its own link to the service and starts using it (and
  checking it, if it checks);
* **scale in** (``remove_backend``): every instance of the last tier drains its
  ref of the backend (:meth:`lbsim.run.fleet.Fleet.drain_backend`), and the
  checkers stop probing it.

**A tier in front checks the next tier.** ``health_check`` on the balancer of a
tier in front of another makes each of its instances probe the next tier's
instances, which it balances over as over backends (as Maglev checks its
backends, or an edge Envoy its upstream proxies): from its own address to the
next instance's own address, port 8080. Those instances accept the probes there
(behind a ``dsr`` tier they otherwise take only the VIP) and answer by a route
back to the prober (:func:`_answer_probes`). A probe is a TCP connect (``kind:
tcp``): an HTTP probe to a proxy would be forwarded to a backend, so ``http`` is
refused on a tier in front. A failed instance of the next tier is then no longer
taken out at once (:mod:`lbsim.run.instance_faults`): each instance of the tier in
front keeps sending to it until its own checks fail ``fall`` times in a row, that
is between ``(fall - 1) * interval + timeout`` and ``fall * interval + timeout``
after the failure (the first probe after it comes within one interval; a dark
instance fails each probe at its timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lbsim.lb.backends import BackendRef
from lbsim.lb.health import HealthChecker
from lbsim.net.addresses import NAT_PORTS, VIP, tier_address
from lbsim.net.segment import mss_for_mtu

if TYPE_CHECKING:
    import simpy

    from lbsim.lb.base import Balancer
    from lbsim.net.link import Link
    from lbsim.records import Recorder
    from lbsim.run.tiers import TieredBuild
    from lbsim.scenario.faults import HealthCheckConfig
    from lbsim.scenario.schema import BalancerConfig

__all__ = [
    "HealthFleet",
    "instance_ref",
    "scale_out_tier",
    "start_instance_checks",
    "start_tier_checks",
]


class HealthFleet(HealthChecker):
    """Several instances' health checkers read as one (see the module docstring).

    Attributes:
        checkers: Instance name -> its checker.
    """

    def __init__(self, checkers: dict[str, HealthChecker]) -> None:
        # Deliberately not HealthChecker.__init__: a fleet probes nothing itself.
        self.checkers = checkers

    @property
    def checks(self) -> int:  # type: ignore[override]
        """Probes started, over every instance."""
        return sum(c.checks for c in self.checkers.values())

    @property
    def failures(self) -> int:  # type: ignore[override]
        """Probes that failed, over every instance."""
        return sum(c.failures for c in self.checkers.values())

    @property
    def transitions(self) -> list[tuple[float, str, bool]]:  # type: ignore[override]
        """Every instance's changes of state, in time order."""
        return sorted(t for c in self.checkers.values() for t in c.transitions)

    def add(self, backend: BackendRef, offset: float = 0.0) -> None:  # pragma: no cover
        """Refs are per instance: :func:`lbsim.run.tiers.TieredBuild.scale_out` adds them."""
        raise RuntimeError("add a backend to each instance's checker, with its own ref")

    def remove(self, backend: BackendRef) -> None:
        """Every instance stops checking the backend (by name)."""
        for checker in self.checkers.values():
            checker.remove(backend)


def start_instance_checks(
    env: simpy.Environment,
    instances: list[Balancer],
    addresses: list[int],
    config: HealthCheckConfig,
    recorder: Recorder,
) -> HealthFleet:
    """One checker per instance, each over its own refs, probing from its address."""
    checkers = {
        lb.name: HealthChecker(
            env,
            lb.health_stack(),
            list(lb.backends),
            kind=config.kind,
            path=config.path,
            interval=config.interval,
            timeout=config.timeout,
            rise=config.rise,
            fall=config.fall,
            recorder=recorder,
            on_change=lb.health_changed,
            device=lb.name,
            source=address,
        )
        for lb, address in zip(instances, addresses, strict=True)
    }
    return HealthFleet(checkers)


def start_tier_checks(build: TieredBuild, configs: list[BalancerConfig]) -> HealthFleet | None:
    """Every instance of every tier whose balancer has ``health_check`` checks its own refs.

    The last tier's instances check the backends; a tier in front, the next tier's
    instances (see the module docstring). None when no tier checks.
    """
    topo = build.scenario.topology
    assert topo is not None
    names = [tier.name for tier in topo.tiers]
    checkers: dict[str, HealthChecker] = {}
    for t, cfg in enumerate(configs):
        hc = cfg.health_check
        if hc is None:
            continue
        instances = build.tiers[names[t]]
        if t < len(names) - 1:
            _answer_probes(build, t)
            build.instance_faults.checked.add(names[t + 1])
        addresses = [tier_address(t, i) for i in range(1, len(instances) + 1)]
        fleet = start_instance_checks(build.env, instances, addresses, hc, build.recorder)
        checkers.update(fleet.checkers)
    return HealthFleet(checkers) if checkers else None


def _answer_probes(build: TieredBuild, t: int) -> None:
    """The instances of tier ``t + 1`` accept tier ``t``'s probes and can answer them."""
    topo = build.scenario.topology
    assert topo is not None
    paths = build.paths
    front, behind = topo.tiers[t].name, topo.tiers[t + 1].name
    before = paths.nodes(front, behind)[-2]
    mss = mss_for_mtu(paths.mtu(front, behind))
    for j, lb in enumerate(build.tiers[behind], start=1):
        x = paths.elements[behind][j - 1]
        for stack in lb.stacks():
            for vip_port, port in NAT_PORTS.items():  # behind dsr: the VIP's listeners only
                accept = stack.listening.get((VIP, vip_port))
                if accept is not None and (tier_address(t + 1, j), port) not in stack.listening:
                    stack.listen(tier_address(t + 1, j), port, accept)
            for i, xf in enumerate(paths.elements[front], start=1):
                if tier_address(t, i) not in stack.routes:
                    hop = xf if before == front else paths.elements[before][0]
                    stack.add_route(tier_address(t, i), paths.links[(x, hop)], mss)


def instance_ref(ref: BackendRef, link: Link) -> BackendRef:
    """An instance's own ref of the backend ``ref``: same backend, the instance's link."""
    return BackendRef(ref.name, ref.group, ref.ip, ref.weight, link, ref.mss)


def scale_out_tier(build: TieredBuild, group: str) -> None:
    """One more backend in ``group``: every instance of the last tier uses it."""
    topo = build.scenario.topology
    assert topo is not None
    bgroup = next(g for g in build.scenario.backends if g.group == group)
    backend, ref, uplink = build.topology.add_backend(bgroup)
    service = next(v.name for v in topo.services if group in v.groups)
    router = build.routers[service]
    uplink.attach(router.receive)
    router.add_route(ref.ip, ref.link)
    last = topo.tiers[-1].name
    used = False
    for lb in build.tiers[last]:
        own = instance_ref(ref, build.tier_links[(lb.name, service)])
        if not lb.add_backend(own):
            continue
        used = True
        checkers = build.health.checkers if isinstance(build.health, HealthFleet) else {}
        if lb.name in checkers:
            checkers[lb.name].add(own)
    if not used:
        return
    build.eligible = (*build.eligible, ref.name)
    if any(lb.vip_on_backends for lb in build.tiers[last]):
        backend.listen_on_vip()
