"""Build and run one simulation per balancer variant of a scenario.

Theory of operation: for each entry of ``balancers`` a fresh SimPy environment is
wired from the same scenario:

    client hosts --client links--> balancer --backend links--> backends

Every client host and every backend has its own pair of one-way links to the
balancer (client-side links use ``network.client_link``, backend-side links
``network.backend_link``). The balancer is either the L4 NAT forwarder, which
receives raw segments, or the L7 proxy, whose TCP stack terminates them. Clients
and backends are identical across variants, and all their randomness comes from
streams keyed by the seed and their names, so variants differ only by the
balancer (common random numbers).

A run issues requests until ``duration``, then lets in-flight work finish for at
most ``drain`` seconds; whatever is still open then is recorded as a timeout. Once
every user is done the run goes on only until no segment is in flight, so closing
handshakes complete (connections then sit in TIME_WAIT, which is not simulated to
its end). The
records, counters and sampled time series of each variant are returned in a
:class:`VariantRun`; ``lbsim.results`` turns them into tables.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.lb.algorithms import Algorithm, make_algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.cache import ResponseCache
from lbsim.lb.conntable import ConnectionTable, Timeouts
from lbsim.lb.health import HealthChecker
from lbsim.lb.l4 import DirectReturn, L4Balancer
from lbsim.lb.l4proxy import L4Proxy
from lbsim.lb.l7 import L7Balancer, L7Costs, Limits
from lbsim.lb.outlier import OutlierDetector
from lbsim.lb.policy import EdgePolicy
from lbsim.lb.routing import Router, Rule
from lbsim.net.addresses import backend_address, client_address, endpoint_str, ip_to_str
from lbsim.net.link import Link
from lbsim.net.segment import Segment, flag_names, mss_for_mtu
from lbsim.nodes.backend import Backend
from lbsim.nodes.client import ClientGroupRunner, ClientHost, Tracker
from lbsim.records import Recorder, SegmentRecord
from lbsim.scenario import Scenario
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.schema import DEFAULT_SOURCE_PORTS, BalancerConfig, LinkConfig
from lbsim.sched import call_at
from lbsim.streams import stream, stream_seed
from lbsim.transport.tcp import TcpParams

#: Progress callback: (variant name, fraction of simulated duration done).
Progress = Callable[[str, float], None]
#: A tap sees every segment offered to every link: (link, segment, time, dropped).
#: ``time`` is when the segment starts onto the wire (or was refused, if dropped).
Tap = Callable[[Link, Segment, float, bool], None]

#: Samples per time series over the run's duration.
SAMPLES = 400
#: How often the end of a run checks whether the links have gone quiet.
SETTLE_STEP = 0.001
#: Young-generation threshold of the garbage collector during a run (default 700).
GC_GEN0_THRESHOLD = 50_000


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
    )


def _link(
    env: simpy.Environment, name: str, side: str, cfg: LinkConfig, tracer: Any, seed: int
) -> Link:
    link = Link(
        env,
        name,
        side,
        latency=cfg.latency,
        bandwidth=cfg.bandwidth,
        mtu=cfg.mtu,
        queue_bytes=cfg.queue,
        tracer=tracer,
    )
    if cfg.loss:
        link.set_loss(cfg.loss, stream(seed, "loss", name))
    return link


def _segment_tracer(recorder: Recorder) -> Callable[[Link, Segment, float, bool], None]:
    variant = recorder.variant
    segments = recorder.segments

    def trace(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        lo, hi = (a, b) if a <= b else (b, a)
        segments.append(
            SegmentRecord(
                variant=variant,
                time=t,
                link=link.name,
                side=link.side,
                src=ip_to_str(seg.src),
                dst=ip_to_str(seg.dst),
                sport=seg.sport,
                dport=seg.dport,
                seq=seg.seq,
                ack=seg.ack,
                flags=flag_names(seg.flags),
                window=seg.window,
                payload=seg.length,
                dropped=dropped,
                connection=f"{endpoint_str(*lo)}-{endpoint_str(*hi)}",
            )
        )

    return trace


def _combine(taps: list[Tap]) -> Tap | None:
    if not taps:
        return None
    if len(taps) == 1:
        return taps[0]

    def tap_all(link: Link, seg: Segment, t: float, dropped: bool) -> None:
        for tap in taps:
            tap(link, seg, t, dropped)

    return tap_all


def build_algorithm(balancer: BalancerConfig, layer: int, rng: random.Random) -> Algorithm:
    """The balancer's algorithm, with its ``params``.

    Raises:
        ScenarioError: If the parameters do not suit the algorithm (the path names
            ``balancers.<name>.params``; the file is filled in by the caller).
    """
    try:
        return make_algorithm(balancer.algorithm, layer, rng, **dict(balancer.params))
    except ValueError as err:
        raise ScenarioError("<scenario>", f"balancers.{balancer.name}.params", str(err)) from None


def check_buildable(scenario: Scenario) -> None:
    """Check what only building a run can check (algorithm parameters).

    Raises:
        ScenarioError: On the first problem; its file is ``<scenario>``.
    """
    for balancer in scenario.balancers:
        build_algorithm(balancer, balancer.layer, random.Random(0))


def _build_l7(
    env: simpy.Environment,
    balancer: BalancerConfig,
    stack: TcpStack,
    refs: list[BackendRef],
    eligible_groups: set[str],
    group_of_ip: dict[int, str],
    cpu: Cpu,
    recorder: Recorder,
    seed: int,
) -> L7Balancer:
    """The layer-7 balancer of ``balancer``: rules, edge policy, cache, limits."""
    rules = []
    if balancer.routes:
        for k, route in enumerate(balancer.routes):
            m = route.match
            rules.append(
                Rule(
                    route.group,
                    [r for r in refs if r.group == route.group],
                    build_algorithm(balancer, 7, stream(seed, "lb", balancer.name, "route", k)),
                    path_prefix=m.path_prefix,
                    path=m.path,
                    methods=m.methods,
                    headers=m.headers,
                    auth=route.auth,
                    allow=route.allow,
                    public=route.public,
                )
            )
    else:
        members = [r for r in refs if r.group in eligible_groups]
        rng = stream(seed, "lb", balancer.name, "route", 0)
        rules.append(Rule("*", members, build_algorithm(balancer, 7, rng)))
    block = balancer.block
    blocked_groups = frozenset(block.clients) if block is not None else frozenset()
    policy = EdgePolicy(
        auth_required=balancer.auth is not None and balancer.auth.required,
        blocked_clients=(lambda ip: group_of_ip.get(ip) in blocked_groups)
        if blocked_groups
        else None,
        blocked_headers=block.headers if block is not None else (),
        blocked_agents=block.user_agents if block is not None else (),
    )
    c = balancer.cache
    cache = ResponseCache(c.size, c.ttl, c.methods) if c is not None else None
    lim = balancer.limits
    limits = (
        Limits(lim.max_request, lim.max_buffer, lim.request_timeout) if lim is not None else None
    )
    costs = balancer.costs
    return L7Balancer(
        env,
        balancer.name,
        stack,
        Router(rules),
        cpu=cpu,
        costs=L7Costs(
            costs.per_request, costs.per_header_byte, costs.per_route_rule, costs.per_cache_lookup
        ),
        pool_max=balancer.pool.max,
        pool_warm=balancer.pool.warm,
        idle_timeout=balancer.pool.idle_timeout,
        recorder=recorder,
        policy=policy,
        cache=cache,
        limits=limits,
        streamed=balancer.response_mode == "streamed",
        hash_on=balancer.hash_on or "client_ip",
        tls=balancer.tls,
        retries=balancer.retries,
        panic_threshold=balancer.panic_threshold,
    )


def _table(balancer: BalancerConfig) -> ConnectionTable:
    cfg = balancer.table
    if cfg is None:
        return ConnectionTable()
    t = cfg.timeouts
    timeouts = Timeouts(
        established=t.established,
        syn_recv=t.syn_recv,
        fin_wait=t.fin_wait,
        time_wait=t.time_wait,
        close=t.close,
    )
    return ConnectionTable(timeouts, cfg.capacity)


class _Build:
    """The objects of one variant's run, wired together."""

    def __init__(
        self,
        scenario: Scenario,
        balancer: BalancerConfig,
        trace: bool,
        taps: Sequence[Tap] = (),
    ) -> None:
        self.scenario = scenario
        self.balancer = balancer
        env = self.env = simpy.Environment()
        rec = self.recorder = Recorder(balancer.name)
        seed = scenario.seed
        params = tcp_params(scenario)
        tracer = _combine(([_segment_tracer(rec)] if trace else []) + list(taps))
        net = scenario.network
        self.links: list[Link] = []
        inbound: list[Link] = []  # client links that end at the balancer
        backend_uplinks: list[Link] = []  # backend links towards the balancer (or switch)
        self.switch: DirectReturn | None = None
        # With direct server return, replies reach clients through a switch, not the
        # balancer: name those links after it.
        reply_hop = "switch" if balancer.layer == 4 and balancer.mode == "dsr" else balancer.name

        # Backends, each with its own link pair.
        self.backends: list[Backend] = []
        self.refs: list[BackendRef] = []
        self._params, self._tracer, self._reply_hop = params, tracer, reply_hop
        self._group_counts: dict[str, int] = {}
        for g_index, bgroup in enumerate(scenario.backends):
            for _ in range(bgroup.count):
                backend_uplinks.append(self._make_backend(g_index, bgroup))
        refs = self.refs

        # Client hosts, each with its own link pair.
        self.tracker = Tracker(env)
        self.clients: list[ClientGroupRunner] = []
        client_links: dict[int, Link] = {}
        client_mss: dict[int, int] = {}
        group_of_ip: dict[int, str] = {}
        host_index = 0
        for group in scenario.clients:
            hosts = []
            access = group.link or net.client_link
            for h in range(group.hosts):
                ip = client_address(host_index)
                host_index += 1
                group_of_ip[ip] = group.name
                client_mss[ip] = mss_for_mtu(access.mtu)
                name = f"{group.name}-h{h}"
                up = _link(env, f"{name}>{balancer.name}", "client", access, tracer, seed)
                down = _link(env, f"{reply_hop}>{name}", "client", access, tracer, seed)
                stack = TcpStack(
                    env,
                    name,
                    params,
                    mss=mss_for_mtu(access.mtu),
                    salt=stream_seed(seed, "isn", name),
                    uplink=up,
                )
                down.attach(stack.receive)
                hosts.append(ClientHost(name, ip, stack))
                client_links[ip] = down
                self.links += (up, down)
                inbound.append(up)
            self.clients.append(
                ClientGroupRunner(
                    env,
                    group,
                    hosts,
                    seed=seed,
                    duration=scenario.duration,
                    variant=balancer.name,
                    recorder=rec,
                    tracker=self.tracker,
                    placement=self._placement,
                )
            )

        # The balancer.
        self.cpu = Cpu(balancer.cores)
        costs = balancer.costs
        eligible_groups = set(balancer.groups or [g.group for g in scenario.backends])
        lb: L4Balancer | L4Proxy | L7Balancer
        deliver: Callable[[Segment], None]
        backend_deliver: Callable[[Segment], None] | None = None
        upstream_mss = mss_for_mtu(net.backend_link.mtu)
        self._upstream_mss = upstream_mss

        def terminating_stack() -> TcpStack:
            """The TCP stack of a balancer that terminates connections (L4 proxy, L7):
            each client's access MSS on its side, the backend link's towards backends."""
            stack = TcpStack(
                env,
                balancer.name,
                params,
                mss=mss_for_mtu(net.client_link.mtu),
                salt=stream_seed(seed, "isn", balancer.name),
                cpu=self.cpu,
                segment_cost=costs.per_segment,
                port_range=balancer.source_ports or DEFAULT_SOURCE_PORTS,
            )
            for ip, link in client_links.items():
                stack.add_route(ip, link, client_mss[ip])
            for ref in refs:
                stack.add_route(ref.ip, ref.link, upstream_mss)
            return stack

        if balancer.layer == 4:
            eligible = [r for r in refs if r.group in eligible_groups]
            algorithm = build_algorithm(balancer, 4, stream(seed, "lb", balancer.name))
            table = _table(balancer)
            if balancer.mode == "proxy":
                lb_stack = terminating_stack()
                lb = L4Proxy(
                    env,
                    balancer.name,
                    lb_stack,
                    eligible,
                    algorithm,
                    table=table,
                    warm=balancer.pool.warm,
                    refill=balancer.pool.refill,
                    recorder=rec,
                )
                deliver = lb_stack.receive
            else:
                clamp = None
                if balancer.mss_clamp:
                    clamp = min(min(client_mss.values()), upstream_mss)
                lb = L4Balancer(
                    env,
                    balancer.name,
                    eligible,
                    algorithm,
                    client_links,
                    mode=balancer.mode or "nat",
                    table=table,
                    cpu=self.cpu,
                    per_segment=costs.per_segment,
                    recorder=rec,
                    mss_clamp=clamp,
                )
                deliver = lb.receive
                if balancer.mode == "dsr":
                    # Backends answer straight to clients through a switch, and
                    # accept the VIP as a local address.
                    self.switch = DirectReturn(client_links)
                    backend_deliver = self.switch.receive
                    for backend in self.backends:
                        backend.listen_on_vip()
        else:
            lb_stack = terminating_stack()
            lb = _build_l7(
                env, balancer, lb_stack, refs, eligible_groups, group_of_ip, self.cpu, rec, seed
            )
            deliver = lb_stack.receive
            eligible = lb.backends
        for link in inbound:
            link.attach(deliver)
        self._backend_deliver = backend_deliver or deliver
        for link in backend_uplinks:
            link.attach(self._backend_deliver)
        self.lb = lb
        self.eligible = tuple(r.name for r in eligible)
        self._eligible_groups = eligible_groups
        if isinstance(lb, L7Balancer) and balancer.outlier_detection is not None:
            od = balancer.outlier_detection
            lb.outlier = OutlierDetector(
                lb.backends, od.consecutive_5xx, od.base_ejection, od.max_ejection_percent
            )
        self.health: HealthChecker | None = None
        if balancer.health_check is not None:
            self._start_health_checks(eligible)
        self._schedule_events()
        self._started = False
        self._cpu_window: dict[str, float] = {}

    @property
    def stacks(self) -> list[TcpStack]:
        """Every TCP stack of the run: clients, backends, the balancer's, probes'."""
        out = [host.stack for runner in self.clients for host in runner.hosts]
        out += [backend.stack for backend in self.backends]
        lb = self.lb
        if isinstance(lb, L7Balancer | L4Proxy):
            out.append(lb.stack)
        elif lb.probe_stack is not None:
            out.append(lb.probe_stack)
        return out

    # ------------------------------------------------------- faults, health

    def _start_health_checks(self, eligible: Sequence[BackendRef]) -> None:
        lb, hc, env = self.lb, self.balancer.health_check, self.env
        assert hc is not None
        stack: TcpStack
        on_change: Callable[[BackendRef, bool, float], None]
        if isinstance(lb, L4Balancer):
            # A NAT/DSR balancer has no TCP stack of its own: probes get one.
            probe = TcpStack(
                env,
                f"{self.balancer.name}-probe",
                self._params,
                mss=mss_for_mtu(self.scenario.network.backend_link.mtu),
                salt=stream_seed(self.scenario.seed, "isn", "probe"),
                routes={r.ip: r.link for r in self.refs},
            )
            lb.probe_stack = probe
            if self.switch is not None:
                self.switch.probe_stack = probe
            stack, on_change = probe, lb.backends_changed
        elif isinstance(lb, L4Proxy):
            stack, on_change = lb.stack, lb.backends_changed
        else:
            stack, on_change = lb.stack, lb.health_changed
        self.health = HealthChecker(
            env,
            stack,
            list(eligible),
            kind=hc.kind,
            path=hc.path,
            interval=hc.interval,
            timeout=hc.timeout,
            rise=hc.rise,
            fall=hc.fall,
            recorder=self.recorder,
            on_change=on_change,
        )

    def _schedule_events(self) -> None:
        for event in self.scenario.events:
            call_at(self.env, event.at, self._event, event)
            if event.action == "outage" and event.until is not None:
                call_at(self.env, event.until, self._outage_over, event)

    def _backend(self, name: str) -> tuple[Backend, BackendRef]:
        for backend, ref in zip(self.backends, self.refs, strict=True):
            if backend.name == name:
                return backend, ref
        raise KeyError(name)

    def _links_for(self, event: Any) -> list[Link]:
        side = None if event.link == "all" else event.link
        prefix = f"{event.client}-h" if event.client else None
        return [
            link
            for link in self.links
            if (side is None or link.side == side)
            and (prefix is None or link.name.startswith(prefix) or f">{prefix}" in link.name)
        ]

    def _event(self, event: Any) -> None:
        """Carry out one scheduled event (the same in every variant)."""
        now = self.env._now
        action = event.action
        self.recorder.sample(f"event.{action}", now, 1.0)
        seed = self.scenario.seed
        if action in ("crash", "recover", "slowdown", "errors", "remove_backend"):
            backend, ref = self._backend(event.backend)
            if action == "crash":
                backend.crash(event.mode or "reset")
            elif action == "recover":
                backend.recover()
            elif action == "slowdown":
                backend.slow_factor = event.factor
            elif action == "errors":
                backend.error_rate = event.rate
            else:
                ref.draining = True
                self.lb.backends_changed()
                if self.health is not None:
                    self.health.remove(ref)
        elif action == "loss":
            for link in self._links_for(event):
                link.set_loss(event.rate, stream(seed, "loss", link.name))
        elif action == "outage":
            for link in self._links_for(event):
                link.set_down(True, stream(seed, "loss", link.name))
        elif action == "restart_balancer":
            self._restart_balancer(now, event.downtime or 0.0)
        elif action == "add_backend":
            self._scale_out(event.group)

    def _outage_over(self, event: Any) -> None:
        for link in self._links_for(event):
            link.set_down(False)

    def _restart_balancer(self, now: float, downtime: float) -> None:
        lb = self.lb
        lb.restart(now, downtime)
        if not isinstance(lb, L4Balancer) and downtime > 0:
            stack = lb.stack
            stack.silent = True
            call_at(self.env, now + downtime, setattr, stack, "silent", False)

    def _scale_out(self, group: str) -> None:
        """Add one backend to ``group``; balancers using the group start using it."""
        g_index, bgroup = next(
            (k, g) for k, g in enumerate(self.scenario.backends) if g.group == group
        )
        up = self._make_backend(g_index, bgroup)
        up.attach(self._backend_deliver)
        ref = self.refs[-1]
        lb = self.lb
        if isinstance(lb, L7Balancer):
            lb.stack.add_route(ref.ip, ref.link, self._upstream_mss)
            lb.add_backend(ref)
        elif group in self._eligible_groups:
            if isinstance(lb, L4Proxy):
                lb.stack.add_route(ref.ip, ref.link, self._upstream_mss)
            elif lb.probe_stack is not None:
                lb.probe_stack.add_route(ref.ip, ref.link)
            lb.add_backend(ref)
        else:
            return
        self.eligible = (*self.eligible, ref.name)
        if isinstance(lb, L4Balancer) and self.switch is not None:
            self.backends[-1].listen_on_vip()
        if self.health is not None:
            self.health.add(ref)

    def _make_backend(self, g_index: int, bgroup: Any) -> Link:
        """Create the next instance of backend group ``bgroup`` with its links.

        Returns:
            Its uplink, which the caller attaches to the balancer (or switch).
        """
        env, balancer, seed = self.env, self.balancer, self.scenario.seed
        net = self.scenario.network
        i = self._group_counts.get(bgroup.group, 0) + 1
        self._group_counts[bgroup.group] = i
        name = f"{bgroup.group}-{i}"
        ip = backend_address(g_index, i)
        up = _link(
            env, f"{name}>{self._reply_hop}", "backend", net.backend_link, self._tracer, seed
        )
        down = _link(
            env, f"{balancer.name}>{name}", "backend", net.backend_link, self._tracer, seed
        )
        stack = TcpStack(
            env,
            name,
            self._params,
            mss=mss_for_mtu(net.backend_link.mtu),
            salt=stream_seed(seed, "isn", name),
            uplink=up,
        )
        down.attach(stack.receive)
        backend = Backend(
            env,
            name,
            bgroup.group,
            ip,
            stack,
            workers=bgroup.workers,
            service_time=bgroup.service_time,
            weight=bgroup.weight,
            queue_limit=bgroup.queue_limit,
            io_model=bgroup.io_model,
            tls_key=bgroup.tls_key,
        )
        backend.errors_rng = stream(seed, "errors", name)
        self.backends.append(backend)
        self.refs.append(BackendRef(name, bgroup.group, ip, bgroup.weight, down))
        self.links += (up, down)
        return up

    def _placement(self, ip: int, port: int) -> str | None:
        lb = self.lb
        return None if isinstance(lb, L7Balancer) else lb.placement(ip, port)

    # -------------------------------------------------------------- running

    def _sampler(self, progress: Progress | None) -> Generator[simpy.Event, Any, None]:
        env = self.env
        rec = self.recorder
        lb = self.lb
        cpu = self.cpu
        duration = self.scenario.duration
        step = min(1.0, max(0.001, duration / SAMPLES))
        busy_before = cpu.busy_by(env._now)
        table = lb.table if isinstance(lb, L4Balancer | L4Proxy) else None
        while True:
            now = env._now
            rec.sample("lb.table_entries", now, lb.table_entries)
            if table is not None:
                for state, count in table.counts().items():
                    rec.sample(f"lb.table.{state.lower()}", now, count)
            rec.sample("lb.buffer_bytes", now, lb.buffered_bytes)
            rec.sample("lb.cpu_queue_delay", now, cpu.backlog(now))
            if progress is not None:
                progress(self.balancer.name, min(1.0, now / duration))
            yield env.timeout(step)
            busy_now = cpu.busy_by(env._now)
            utilization = (busy_now - busy_before) / (step * cpu.cores)
            rec.sample("lb.cpu_utilization", env._now, utilization)
            busy_before = busy_now

    def _settle(self) -> Generator[simpy.Event, Any, None]:
        links = self.links
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
        env = self.env
        sc = self.scenario
        window = self._cpu_window
        cpu = self.cpu
        call_at(env, sc.warmup, lambda: window.__setitem__("start", cpu.busy_by(sc.warmup)))
        call_at(env, sc.duration, lambda: window.__setitem__("end", cpu.busy_by(sc.duration)))
        for runner in self.clients:
            runner.start()
        env.process(self._sampler(progress))

    def run(self, progress: Progress | None = None) -> VariantRun:
        """Run to the end and collect counters."""
        env = self.env
        sc = self.scenario
        started = time.perf_counter()
        self.start(progress)
        window = self._cpu_window
        deadline = sc.duration + sc.drain
        # A run allocates millions of short-lived objects while holding many
        # long-lived ones (connections in TIME_WAIT, records); collecting the young
        # generation less often saves a quarter of the time and changes no result.
        threshold = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, *threshold[1:])
        try:
            env.run(until=env.any_of([self.tracker.done, env.timeout(deadline)]))
            if self.tracker.done.triggered and env._now < deadline:
                # Let closing handshakes finish: run on until every link is idle.
                settled = env.process(self._settle())
                env.run(until=env.any_of([settled, env.timeout(deadline - env._now)]))
        finally:
            gc.set_threshold(*threshold)
        end = env._now
        for runner in self.clients:
            runner.finalize(end)
        if isinstance(self.lb, L7Balancer):
            self.lb.finalize()
        rec = self.recorder
        for side in ("client", "backend"):
            rec.counters[f"segments.{side}_side"] = sum(
                link.sent for link in self.links if link.side == side
            )
        rec.counters["segments.dropped"] = sum(link.dropped for link in self.links)
        busy = window.get("end", self.cpu.busy_by(end)) - window.get("start", 0.0)
        rec.counters["lb.cpu_utilization"] = busy / (self.cpu.cores * (sc.duration - sc.warmup))
        rec.counters["lb.cpu_wait_seconds"] = self.cpu.waited
        jobs = self.cpu.jobs
        rec.counters["lb.cpu_mean_queue_delay"] = self.cpu.waited / jobs if jobs else 0.0
        lb = self.lb
        rec.counters["lb.peak_buffer_bytes"] = lb.peak_buffer if isinstance(lb, L7Balancer) else 0
        rec.counters["lb.peak_table_entries"] = (
            lb.peak_connections if isinstance(lb, L7Balancer) else lb.peak_entries
        )
        if isinstance(lb, L4Balancer | L4Proxy):
            rec.counters["lb.table_refused"] = lb.table.refused
            rec.counters["lb.table_expired"] = lb.table.expired
        if isinstance(lb, L4Proxy):
            rec.counters["lb.connect_failures"] = lb.connect_failures
            rec.counters["lb.cold_connects"] = lb.cold_connects
            rec.counters["lb.warm_hits"] = lb.warm_hits
        if isinstance(lb, L4Balancer):
            rec.counters["lb.stray_segments"] = lb.stray
            rec.counters["lb.mss_clamped"] = lb.clamped
        for backend in self.backends:
            rec.counters[f"backend.{backend.name}.served"] = backend.served
            for key, value in backend.tls_stats.items():
                rec.counters[f"backend.{backend.name}.tls_{key}"] = value
        if isinstance(lb, L7Balancer):
            for key, value in lb.tls_stats.items():
                rec.counters[f"lb.tls_{key}"] = value
            rec.counters["lb.retries"] = lb.retried
            if lb.outlier is not None:
                rec.counters["lb.ejections"] = lb.outlier.ejections
        if self.health is not None:
            rec.counters["health.checks"] = self.health.checks
            rec.counters["health.failures"] = self.health.failures
            rec.counters["health.transitions"] = len(self.health.transitions)
        rec.counters["links.lost"] = sum(link.lost for link in self.links)
        totals = [stack.totals() for stack in self.stacks]
        rec.counters["tcp.retransmissions"] = sum(t[0] for t in totals)
        rec.counters["tcp.bytes_sent"] = sum(t[1] for t in totals)
        rec.counters["tcp.bytes_received"] = sum(t[2] for t in totals)
        if progress is not None:
            progress(self.balancer.name, 1.0)
        return VariantRun(
            name=self.balancer.name,
            layer=self.balancer.layer,
            algorithm=self.balancer.algorithm,
            recorder=rec,
            backends=self.eligible,
            wall_seconds=time.perf_counter() - started,
            end_time=end,
        )


def build_variant(
    scenario: Scenario,
    name: str,
    *,
    trace_segments: bool = False,
    taps: Sequence[Tap] = (),
) -> _Build:
    """Wire (but do not run) one variant; for tests and notebooks that inspect objects.

    Args:
        scenario: A validated scenario.
        name: Balancer variant to build.
        trace_segments: Record every segment on every link as a ``SegmentRecord``.
        taps: Extra observers of every segment on every link (e.g. a packet
            capture); they see the live :class:`~lbsim.net.segment.Segment`
            values, message marks included.
    """
    for balancer in scenario.balancers:
        if balancer.name == name:
            return _Build(scenario, balancer, trace_segments, taps)
    raise KeyError(f"no balancer named {name!r}")


def run_variant(
    scenario: Scenario,
    name: str,
    *,
    trace_segments: bool = False,
    progress: Progress | None = None,
    taps: Sequence[Tap] = (),
) -> VariantRun:
    """Run one balancer variant of ``scenario`` (see :func:`build_variant`)."""
    return build_variant(scenario, name, trace_segments=trace_segments, taps=taps).run(progress)


def variant_names(scenario: Scenario, variants: Sequence[str] | None = None) -> list[str]:
    """The balancers to run: those named in ``variants`` (default all), in scenario order.

    Raises:
        KeyError: If ``variants`` names an unknown balancer.
    """
    names = [b.name for b in scenario.balancers]
    if variants is None:
        return names
    unknown = [v for v in variants if v not in names]
    if unknown:
        raise KeyError(f"no balancer named {unknown[0]!r} (known: {', '.join(names)})")
    return [n for n in names if n in variants]


def run_scenario(
    scenario: Scenario,
    *,
    trace_segments: bool = False,
    variants: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[VariantRun]:
    """Run every balancer variant (or those named in ``variants``) on the same workload.

    Args:
        scenario: A validated scenario.
        trace_segments: Record every segment on every link.
        variants: Names of the balancers to run (default: all, in file order).
        progress: Called with (variant, fraction done) while running.

    Returns:
        One :class:`VariantRun` per variant, in scenario order.

    Raises:
        KeyError: If ``variants`` names an unknown balancer.
    """
    return [
        run_variant(scenario, n, trace_segments=trace_segments, progress=progress)
        for n in variant_names(scenario, variants)
    ]
