"""What every balancer kind is to the rest of the simulator.

Theory of operation: the run that builds a topology (:mod:`lbsim.run`) does not
know how a balancer carries bytes -- a NAT forwarder rewrites packets, a splicing
proxy and an L7 proxy terminate TCP in a stack of their own. It only needs the
joints, collected in :class:`Balancer`:

* **wiring in**: a :class:`Wiring` gives the balancer its place in the topology --
  the links and MSS towards every client address, the backends with their links
  and MSS, its own addresses, its CPU, its recorder. A balancer never assumes the
  single-star topology: whoever wires several balancers (a layer-4 tier in front of
  a layer-7 fleet, ECMP) gives each its own :class:`Wiring`, where "clients" are
  whatever sends to its VIP and "backends" whatever it balances over.
* **wiring out**: :attr:`Balancer.client_receive` and
  :attr:`Balancer.backend_receive` are what the links into the balancer deliver
  to (with direct server return the backends' replies go to a router instead);
  :meth:`Balancer.stacks` lists the TCP stacks it owns, for the run's totals.
* **changes**: a backend added (scale out), drained, a health verdict, the
  balancer restarting -- each one call.
* **observation**: where a client connection was placed, bytes held in memory,
  table entries now and at peak, and :meth:`Balancer.counters`, the balancer's
  own ``lb.*`` counters for ``summary.json``.

Kinds are made from a registry keyed by (layer, mode): :mod:`lbsim.lb.registry`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.lb.algorithms import Algorithm, make_algorithm
from lbsim.lb.backends import BackendRef
from lbsim.lb.conntable import ConnectionTable, Timeouts
from lbsim.net.addresses import LB_INSIDE, VIP, endpoint_str
from lbsim.net.link import Link
from lbsim.net.segment import Segment
from lbsim.records import ConnectionRecord, Recorder
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.schema import DEFAULT_SOURCE_PORTS, BalancerConfig
from lbsim.sched import call_at
from lbsim.streams import stream, stream_seed
from lbsim.transport.tcp import TcpConnection, TcpParams


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


@dataclass
class Wiring:
    """A balancer's place in the topology, as the builder of the run made it.

    Attributes:
        env: The run's SimPy environment.
        config: The balancer's scenario entry.
        recorder: Where records, counters and samples go.
        cpu: The balancer's cores.
        params: TCP tunables of any stack the balancer owns.
        seed: The run's seed (streams are keyed by it and by names).
        client_links: Link towards each client address.
        client_mss: MSS of the path to each client address.
        client_groups: Client group of each client address.
        backends: Every backend the balancer can reach (all groups; it balances
            over those of its ``groups``), with link and MSS.
        default_mss: MSS a stack of the balancer offers where no route says more.
        vip: The virtual address clients connect to.
        inside: The balancer's own address towards backends.
        source_nat: Full NAT: a layer-4 ``nat`` balancer also rewrites the client's
            source to ``inside`` (:mod:`lbsim.lb.snat`).
        pick_on_miss: A packet-forwarding balancer places a mid-connection segment
            it has no table entry for as it would a new connection, instead of
            dropping it (instances of a topology tier behind ECMP: see
            :class:`~lbsim.lb.l4.L4Balancer`).
        stack_class: Class of a terminating stack (a request-level one at
            ``fidelity: request``, so connections opened while wiring are too).
    """

    env: simpy.Environment
    config: BalancerConfig
    recorder: Recorder
    cpu: Cpu
    params: TcpParams
    seed: int
    client_links: dict[int, Link] = field(default_factory=dict)
    client_mss: dict[int, int] = field(default_factory=dict)
    client_groups: dict[int, str] = field(default_factory=dict)
    backends: list[BackendRef] = field(default_factory=list)
    default_mss: int = 1460
    vip: int = VIP
    inside: int = LB_INSIDE
    source_nat: bool = False
    pick_on_miss: bool = False
    stack_class: type[TcpStack] = TcpStack

    @property
    def name(self) -> str:
        """The balancer's name."""
        return self.config.name

    def eligible(self) -> list[BackendRef]:
        """Backends of the groups the balancer balances over (all if it names none)."""
        groups = self.config.groups
        return [b for b in self.backends if groups is None or b.group in groups]

    def algorithm(self, layer: int, *stream_names: str | int) -> Algorithm:
        """A fresh algorithm of the balancer's kind, on the stream ``lb/<name>/...``."""
        rng = stream(self.seed, "lb", self.config.name, *stream_names)
        return build_algorithm(self.config, layer, rng)

    def table(self) -> ConnectionTable:
        """A connection table as the balancer's ``table`` entry describes it."""
        cfg = self.config.table
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

    def terminating_stack(self) -> TcpStack:
        """The TCP stack of a balancer that terminates connections (proxy, L7).

        Each client's access MSS on its side, each backend's link MSS towards it;
        every segment it handles costs ``costs.per_segment`` of CPU; its own
        connections use ``source_ports``, from its own ephemeral allocator (its
        rotation starts at a keyed offset of the range, so the backend side's
        source ports are not the client's).
        """
        cfg = self.config
        stack = self.stack_class(
            self.env,
            cfg.name,
            self.params,
            mss=self.default_mss,
            salt=stream_seed(self.seed, "isn", cfg.name),
            cpu=self.cpu,
            segment_cost=cfg.costs.per_segment,
            port_range=cfg.source_ports or DEFAULT_SOURCE_PORTS,
            port_salt=stream_seed(self.seed, "ports", cfg.name),
        )
        for ip, link in self.client_links.items():
            stack.add_route(ip, link, self.client_mss[ip])
        for ref in self.backends:
            stack.add_route(ref.ip, ref.link, ref.mss)
        return stack


class Balancer(ABC):
    """The interface every balancer kind implements (see the module docstring).

    Attributes:
        name: Variant name.
        layer: 4 or 7.
        backends: The backends it balances over, in order (scale out appends).
        client_receive: Where segments from clients to the VIP are delivered.
        backend_receive: Where segments from backends are delivered.
        vip_on_backends: Backends must accept the VIP as a local address (DSR).
        buffered_bytes: Bytes held in the balancer's memory now.
        peak_buffer: Largest ``buffered_bytes`` seen.
    """

    name: str
    layer: int
    backends: list[BackendRef]
    client_receive: Callable[[Segment, float], None]
    backend_receive: Callable[[Segment, float], None]
    vip_on_backends = False
    buffered_bytes = 0
    peak_buffer = 0

    @abstractmethod
    def stacks(self) -> list[TcpStack]:
        """The TCP stacks the balancer owns (none for a packet forwarder)."""

    @abstractmethod
    def health_stack(self) -> TcpStack:
        """The stack health probes are sent from (made on first use if need be)."""

    def health_changed(self, backend: BackendRef, healthy: bool, now: float) -> None:
        """The health checker flipped ``backend``; back up, it joins again (slow start)."""
        self.backends_changed()
        if healthy:
            for algorithm in self.algorithms_of(backend):
                algorithm.backend_joined(backend.name, now)

    def algorithms(self) -> list[Algorithm]:
        """The balancing algorithms it runs (one per route at layer 7), each once."""
        return []

    def algorithms_of(self, backend: BackendRef) -> list[Algorithm]:
        """The algorithms that may pick ``backend``."""
        return []

    @abstractmethod
    def backends_changed(self, *_args: object) -> None:
        """Health, draining or the set of backends changed."""

    @abstractmethod
    def add_backend(self, backend: BackendRef) -> bool:
        """Scale out: a new backend exists; return whether this balancer uses it."""

    def drain_backend(self, backend: BackendRef) -> None:
        """Take ``backend`` out of rotation: no new work goes to it."""
        backend.draining = True
        self.backends_changed()

    @abstractmethod
    def restart(self, now: float, downtime: float) -> None:
        """The balancer restarts at ``now`` and stays dark for ``downtime``."""

    def placement(self, client_ip: int, client_port: int) -> str | None:
        """Backend the connection from ``client_ip:client_port`` went to (None: per request)."""
        return None

    @property
    @abstractmethod
    def table_entries(self) -> int:
        """Live connection-table entries (or connections held, for a proxy)."""

    @property
    @abstractmethod
    def peak_entries(self) -> int:
        """Most table entries (or connections) held at once."""

    def table_counts(self) -> dict[str, int]:
        """Table entries by state, for the sampled time series (none by default)."""
        return {}

    def counters(self) -> dict[str, float]:
        """The balancer's own end-of-run counters (``lb.*`` keys)."""
        out: dict[str, float] = {
            "lb.peak_buffer_bytes": self.peak_buffer,
            "lb.peak_table_entries": self.peak_entries,
        }
        # Bounded-load hashing: picks that walked past a full home backend.
        counts = [getattr(a, "spills", None) for a in self.algorithms()]
        spills = [n for n in counts if isinstance(n, int)]
        if spills:
            out["algorithm.spills"] = sum(spills)
        return out

    def finalize(self, now: float) -> None:  # noqa: B027 (optional hook, no-op by default)
        """End of run: write the records of what is still open."""

    def discard(self) -> None:  # noqa: B027 (optional hook, no-op by default)
        """After the run: drop per-connection tables (see ``VariantBuild.discard``).

        Its stacks are discarded by the build. A balancer whose tables hold many
        entries at the end of a run empties them here, so that they are freed by
        reference counting rather than walked by the cycle collector. The balancer
        must not be used afterwards.
        """


def go_silent(env: simpy.Environment, stack: TcpStack, now: float, downtime: float) -> None:
    """A restarting host's stack answers nothing for ``downtime`` (not even RSTs)."""
    if downtime > 0:
        stack.silent = True
        call_at(env, now + downtime, setattr, stack, "silent", False)


def record_backend_connection(
    recorder: Recorder,
    conn: TcpConnection,
    backend: BackendRef,
    requests: int,
    error: str | None,
) -> None:
    """Write the ``connections.csv`` row of a connection a proxy opened to a backend.

    Args:
        recorder: The run's recorder.
        conn: The connection (its ``user`` slot holds its id).
        backend: Where it goes.
        requests: Requests it carried.
        error: How it ended (``"reset"``/``"aborted"`` count as a reset; None if
            it closed cleanly or is still open).
    """
    recorder.connections.append(
        ConnectionRecord(
            variant=recorder.variant,
            connection=str(conn.user),
            side="backend",
            src=endpoint_str(conn.local_ip, conn.local_port),
            dst=endpoint_str(conn.remote_ip, conn.remote_port),
            backend=backend.name,
            t_open=conn.opened_at or 0.0,
            t_established=conn.established_at,
            t_close=conn.finished_at,
            requests=requests,
            bytes_sent=conn.bytes_sent,
            bytes_received=conn.bytes_received,
            segments=conn.segments,
            retransmissions=conn.retransmissions,
            reset=error in ("reset", "aborted"),
        )
    )
