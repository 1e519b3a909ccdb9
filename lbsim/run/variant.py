"""One balancer variant's run: wire the hosts, the balancer and the faults; run it.

Theory of operation: :class:`VariantBuild` wires a fresh SimPy environment from
the scenario in five steps -- backends, clients, the balancer, health checks,
events -- and talks to the balancer only through the
:class:`~lbsim.lb.base.Balancer` interface (the kind comes from the registry in
:mod:`lbsim.lb.registry`), so nothing here depends on which kind it is.

A run issues requests until ``duration``, then lets in-flight work finish for at
most ``drain`` seconds; whatever is still open then is recorded as a timeout. Once
every user is done the run goes on only until no segment is in flight, so closing
handshakes complete (connections then sit in TIME_WAIT, which is not simulated to
its end). A sampler records the balancer's state ``SAMPLES`` times over the
duration. At the end the counters are gathered: the links', the CPU's, the
balancer's own (:meth:`~lbsim.lb.base.Balancer.counters`), the backends', the
health checker's and the TCP stacks' totals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from lbsim.collector import rare_collections
from lbsim.host.cpu import Cpu
from lbsim.host.message_stack import MessageStack
from lbsim.host.stack import TcpStack
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Balancer, Wiring
from lbsim.lb.health import HealthChecker
from lbsim.lb.registry import make_balancer
from lbsim.net.link import Link
from lbsim.net.segment import mss_for_mtu
from lbsim.nodes.backend import Backend
from lbsim.nodes.client import ClientGroupRunner, Tracker
from lbsim.records import Recorder
from lbsim.run.events import schedule_events
from lbsim.run.fidelity import REQUEST, refuse_segment_observers, to_request_level
from lbsim.run.links import Tap, combine, segment_tracer
from lbsim.run.topology import Topology
from lbsim.scenario import Scenario
from lbsim.scenario.schema import BalancerConfig
from lbsim.sched import call_at, drop_pending, run_until
from lbsim.transport.tcp import TcpParams

#: Progress callback: (variant name, fraction of simulated duration done).
Progress = Callable[[str, float], None]

#: Samples per time series over the run's duration.
SAMPLES = 400
#: How often the end of a run checks whether the links have gone quiet.
SETTLE_STEP = 0.001


@dataclass(frozen=True)
class VariantRun:
    """Everything one balancer variant's run produced.

    Attributes:
        name: Balancer variant name.
        layer: 4 or 7.
        algorithm: Balancing algorithm.
        recorder: Records, counters and time series.
        backends: Backend instances this variant may use, in order.
        wall_seconds: Wall-clock seconds the run took.
        end_time: Simulated time at which the run ended.
    """

    name: str
    layer: int
    algorithm: str
    recorder: Recorder
    backends: tuple[str, ...]
    wall_seconds: float
    end_time: float


def tcp_params(scenario: Scenario) -> TcpParams:
    """TCP tunables of a scenario."""
    t = scenario.tcp
    return TcpParams(
        initial_window=t.initial_window,
        receive_window=t.receive_window,
        initial_rto=t.initial_rto,
        min_rto=t.min_rto,
        max_rto=t.max_rto,
        time_wait=t.time_wait,
        delayed_ack=t.delayed_ack,
        delayed_ack_timeout=t.delayed_ack_timeout,
    )


class VariantBuild:
    """The objects of one variant's run, wired together (see the module docstring).

    Attributes:
        scenario: The scenario.
        balancer: The balancer's scenario entry.
        env: The run's SimPy environment.
        recorder: Records, counters and time series of the run.
        topology: Hosts and links.
        lb: The balancer.
        cpu: The balancer's cores.
        clients: One runner per client group.
        tracker: Fires when every user is done.
        health: The health checker, if the balancer checks backends.
        eligible: Names of the backends the balancer may use.
    """

    #: The hosts-and-links builder (a topology's build uses its own).
    topology_class: type[Topology] = Topology

    def __init__(
        self,
        scenario: Scenario,
        balancer: BalancerConfig,
        trace: bool = False,
        taps: Sequence[Tap] = (),
    ) -> None:
        if scenario.fidelity == REQUEST and (trace or taps):
            refuse_segment_observers()
        self.scenario = scenario
        self.balancer = balancer
        self.env = simpy.Environment()
        self.recorder = Recorder(balancer.name, detailed=trace)
        self.params = tcp_params(scenario)
        tracer = combine(([segment_tracer(self.recorder)] if trace else []) + list(taps))
        # With direct server return, replies reach clients through the backends'
        # default gateway, a router, not the balancer: name those links after it.
        reply_hop = "router" if balancer.layer == 4 and balancer.mode == "dsr" else balancer.name
        self.topology = self.topology_class(
            self.env, scenario, balancer.name, reply_hop, self.params, tracer
        )
        self.cpu = Cpu(balancer.cores)
        self.tracker = Tracker(self.env)
        self.clients: list[ClientGroupRunner] = []
        self.health: HealthChecker | None = None
        self._started = False
        self._cpu_window: dict[str, float] = {}

        self._make_backends()
        self._make_clients()
        self.lb = self._make_balancer()
        self._start_health_checks()
        schedule_events(self)
        if scenario.fidelity == REQUEST:
            to_request_level(self)

    # ------------------------------------------------------------- the steps

    def _make_backends(self) -> None:
        for bgroup in self.scenario.backends:
            for _ in range(bgroup.count):
                self.topology.add_backend(bgroup)

    def _make_clients(self) -> None:
        sc = self.scenario
        for group in sc.clients:
            self.clients.append(
                ClientGroupRunner(
                    self.env,
                    group,
                    self.topology.add_client_hosts(group),
                    seed=sc.seed,
                    duration=sc.duration,
                    variant=self.balancer.name,
                    recorder=self.recorder,
                    tracker=self.tracker,
                    placement=self._placement,
                )
            )

    def _make_balancer(self) -> Balancer:
        topo = self.topology
        lb = make_balancer(
            Wiring(
                env=self.env,
                config=self.balancer,
                recorder=self.recorder,
                cpu=self.cpu,
                params=self.params,
                seed=self.scenario.seed,
                client_links=topo.client_links,
                client_mss=topo.client_mss,
                client_groups=topo.client_groups,
                backends=list(topo.refs),
                default_mss=mss_for_mtu(self.scenario.network.client_link.mtu),
                stack_class=MessageStack if self.scenario.fidelity == REQUEST else TcpStack,
            )
        )
        for link in topo.client_uplinks:
            link.attach(lb.client_receive)
        for link in topo.backend_uplinks:
            link.attach(lb.backend_receive)
        if lb.vip_on_backends:
            for backend in topo.backends:
                backend.listen_on_vip()
        self.eligible = tuple(r.name for r in lb.backends)
        return lb

    def _start_health_checks(self) -> None:
        hc, lb = self.balancer.health_check, self.lb
        if hc is None:
            return
        self.health = HealthChecker(
            self.env,
            lb.health_stack(),
            list(lb.backends),
            kind=hc.kind,
            path=hc.path,
            interval=hc.interval,
            timeout=hc.timeout,
            rise=hc.rise,
            fall=hc.fall,
            recorder=self.recorder,
            on_change=lb.health_changed,
            device=lb.name,
        )

    # ----------------------------------------------------------- the objects

    @property
    def links(self) -> list[Link]:
        """Every link of the run."""
        return self.topology.links

    @property
    def backends(self) -> list[Backend]:
        """Every backend instance, in creation order."""
        return self.topology.backends

    @property
    def refs(self) -> list[BackendRef]:
        """The balancer's view of every backend, in creation order."""
        return self.topology.refs

    @property
    def stacks(self) -> list[TcpStack]:
        """Every TCP stack of the run: clients, backends, the balancer's, probes'."""
        out = [host.stack for runner in self.clients for host in runner.hosts]
        out += [backend.stack for backend in self.topology.backends]
        return out + self.lb.stacks()

    def _placement(self, ip: int, port: int) -> str | None:
        return self.lb.placement(ip, port)

    def scale_out(self, group: str) -> None:
        """Add one backend to ``group``; balancers using the group start using it."""
        bgroup = next(g for g in self.scenario.backends if g.group == group)
        backend, ref, uplink = self.topology.add_backend(bgroup)
        lb = self.lb
        uplink.attach(lb.backend_receive)
        if self.scenario.fidelity == REQUEST:
            to_request_level(self)
        if not lb.add_backend(ref):
            return
        self.eligible = (*self.eligible, ref.name)
        if lb.vip_on_backends:
            backend.listen_on_vip()
        if self.health is not None:
            self.health.add(ref)

    # -------------------------------------------------------------- running

    def _sampler(self, progress: Progress | None) -> Generator[simpy.Event, Any, None]:
        env, rec, lb, cpu = self.env, self.recorder, self.lb, self.cpu
        duration = self.scenario.duration
        step = min(1.0, max(0.001, duration / SAMPLES))
        busy_before = cpu.busy_by(env.now)
        while True:
            now = env.now
            rec.sample("lb.table_entries", now, lb.table_entries)
            for state, count in lb.table_counts().items():
                rec.sample(f"lb.table.{state.lower()}", now, count)
            rec.sample("lb.buffer_bytes", now, lb.buffered_bytes)
            rec.sample("lb.cpu_queue_delay", now, cpu.backlog(now))
            if progress is not None:
                progress(self.balancer.name, min(1.0, now / duration))
            yield env.timeout(step)
            busy_now = cpu.busy_by(env.now)
            utilization = (busy_now - busy_before) / (step * cpu.cores)
            rec.sample("lb.cpu_utilization", env.now, utilization)
            busy_before = busy_now

    def _settle(self) -> Generator[simpy.Event, Any, None]:
        links = self.topology.links
        while any(link.in_flight for link in links):
            yield self.env.timeout(SETTLE_STEP)

    def start(self, progress: Progress | None = None) -> None:
        """Start the workload and the samplers (once); :meth:`run` calls it.

        Notebooks may call it and then ``env.run(until=t)`` to look inside the
        balancer at time ``t``.
        """
        if self._started:
            return
        self._started = True
        env, sc, cpu = self.env, self.scenario, self.cpu
        window = self._cpu_window
        call_at(env, sc.warmup, lambda: window.__setitem__("start", cpu.busy_by(sc.warmup)))
        call_at(env, sc.duration, lambda: window.__setitem__("end", cpu.busy_by(sc.duration)))
        for runner in self.clients:
            runner.start()
        env.process(self._sampler(progress))

    def run(self, progress: Progress | None = None) -> VariantRun:
        """Run to the end and collect counters."""
        env, sc = self.env, self.scenario
        started = time.perf_counter()
        self.start(progress)
        deadline = sc.duration + sc.drain
        # Few collections while the run holds many long-lived objects: see
        # lbsim.collector. That includes the end of the run, which writes a record for
        # every connection still open (a minute of TIME_WAIT's worth on a busy run).
        with rare_collections():
            run_until(env, env.any_of([self.tracker.done, env.timeout(deadline)]))
            if self.tracker.done.triggered and env.now < deadline:
                # Let closing handshakes finish: run on until every link is idle.
                settled = env.process(self._settle())
                run_until(env, env.any_of([settled, env.timeout(deadline - env.now)]))
            end = env.now
            for runner in self.clients:
                runner.finalize(end)
            self.lb.finalize(end)
            self.recorder.counters.update(self.counters(end))
        if progress is not None:
            progress(self.balancer.name, 1.0)
        return VariantRun(
            name=self.balancer.name,
            layer=self.balancer.layer,
            algorithm=self.balancer.algorithm,
            recorder=self.recorder,
            backends=self.eligible,
            wall_seconds=time.perf_counter() - started,
            end_time=end,
        )

    def discard(self) -> None:
        """Take the finished run apart, so that reference counting frees it.

        A run's objects refer to each other in cycles (hosts and links, connections
        and their sessions, timers and their connections), so once dropped they are
        the cycle collector's to free, and that is slow: one collection after a 40 s
        run of 280 connections a second walked 280,000 objects in 0.4 s, about as
        long as a tenth of the run. Emptying the stacks, the balancer's tables and
        the event queue frees most of them at once (0.05 s for the same run) and
        leaves the collector the few hundred objects of the hosts and links. The
        build must not be used afterwards; :func:`lbsim.run.runs.run_variant` calls
        this once the run's results are out.
        """
        for stack in self.stacks:
            stack.discard()
        self.lb.discard()
        drop_pending(self.env)

    def counters(self, end: float) -> dict[str, float]:
        """End-of-run counters: links, CPU, the balancer's own, backends, health, TCP."""
        sc, cpu, links = self.scenario, self.cpu, self.topology.links
        out: dict[str, float] = {}
        at_lb = ">" + self.balancer.name
        for side in ("client", "backend"):
            mine = [link for link in links if link.side == side]
            out[f"segments.{side}_side"] = sum(link.sent for link in mine)
            # What the balancer itself had to handle: the links that end at it
            # (under DSR the backends' replies end at the router instead). Payload
            # bytes are not counted per link: one more sum in Link.send costs about
            # 1% of the engine's speed (the trace gives them, see outputs.md).
            into_lb = [link for link in mine if link.name.endswith(at_lb)]
            out[f"lb.segments_in.{side}"] = sum(link.sent for link in into_lb)
        out["segments.dropped"] = sum(link.dropped for link in links)
        window = self._cpu_window
        busy = window.get("end", cpu.busy_by(end)) - window.get("start", 0.0)
        out["lb.cpu_utilization"] = busy / (cpu.cores * (sc.duration - sc.warmup))
        out["lb.cpu_wait_seconds"] = cpu.waited
        out["lb.cpu_mean_queue_delay"] = cpu.waited / cpu.jobs if cpu.jobs else 0.0
        out.update(self.lb.counters())
        for backend in self.topology.backends:
            out[f"backend.{backend.name}.served"] = backend.served
            for key, value in backend.tls_stats.items():
                out[f"backend.{backend.name}.tls_{key}"] = value
        if self.health is not None:
            out["health.checks"] = self.health.checks
            out["health.failures"] = self.health.failures
            out["health.transitions"] = len(self.health.transitions)
        out["links.lost"] = sum(link.lost for link in links)
        totals = [stack.totals() for stack in self.stacks]
        out["tcp.retransmissions"] = sum(t[0] for t in totals)
        out["tcp.bytes_sent"] = sum(t[1] for t in totals)
        out["tcp.bytes_received"] = sum(t[2] for t in totals)
        return out
