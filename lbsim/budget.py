"""A work and memory estimate of a run, and the budget a run must fit in.

Theory of operation:
    A scenario can ask for far more work than a laptop can do (a hundred million
    users, a 100 GB response, a run of a simulated year) without any single value
    being absurd. Before anything is simulated, :func:`estimate` predicts from the
    validated scenario alone (pure arithmetic, no simulation) how many requests,
    TCP segments and scheduled events one run makes, and how much memory it needs:

    * **requests** per client group: open loop, ``rate x duration`` sessions of
      ``requests_per_connection`` requests (a multiplexed group's rate is of
      requests); closed loop, ``users x streams / cycle x duration``, where one
      cycle is the think time plus the request's round trips (connection set-up
      and TLS handshakes spread over the requests of a connection), service time,
      transmission time and balancer CPU. Closed loops cannot outrun the backends
      (or the balancer's CPU), so their rate is capped by that capacity;
    * **segments** on each side of the balancer: request and response data split
      into MSS-sized segments, about 1.2 acknowledgements per data segment (the
      engine acknowledges every segment, plus window updates), the handshake and
      close of every connection, and the balancer's health checks. A layer-4 NAT
      or DSR balancer forwards the client's own segments, so the backend side
      carries as many as the client side; a proxy (layer-4 proxy, layer 7) opens
      its own connections with the backend link's MSS;
    * **events**: about two per segment (its delivery and the work it triggers)
      plus ten per request (arrival, think timer, service, timeouts);
    * **memory**: the interpreter and libraries (~150 MB), every request's and
      connection's record (all variants stay in memory until the results are
      written), segment records when traced, one simulated process per user, the
      warm pools and the hash tables of the balancers.

    The estimate is checked against measured runs of every bundled scenario
    (``tests/robustness/test_budget_accuracy.py``): requests and segments within a
    factor of 2.5 (documented in ``docs/reference/cli.md``). :func:`over_budget`
    compares an estimate with the :data:`BUDGET` and says, in one line, what is too
    large and how to proceed (``--allow-large``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from lbsim.scenario import ClientGroup, Scenario

__all__ = [
    "BUDGET",
    "Budget",
    "Estimate",
    "estimate",
    "over_budget",
    "pcap_bytes",
    "sweep_over_budget",
]

_BASE_MEMORY: Final = 150e6  # interpreter, numpy, pandas, simpy
_REQUEST_BYTES: Final = 1.5e3  # one request record and its share of the tables
_CONNECTION_BYTES: Final = 0.6e3
_SEGMENT_RECORD_BYTES: Final = 0.3e3  # --trace-segments
_USER_BYTES: Final = 6e3  # a user's process, connection and stack state
_POOLED_BYTES: Final = 3e3  # one warm connection
_RING_POINT_BYTES: Final = 100.0
_ACKS_PER_DATA_SEGMENT: Final = 1.2
_CONNECTION_SEGMENTS: Final = 9  # SYN, SYN-ACK, ACK, FIN/ACK both ways, last ACKs
_TLS_SEGMENTS: Final = {"1.2": 8, "1.3": 6}  # handshake flights and their ACKs
_TLS_ROUND_TRIPS: Final = {"1.2": 2, "1.3": 1}
_CHECK_SEGMENTS: Final = {"tcp": 7, "http": 11}
_EVENTS_PER_SEGMENT: Final = 2
_EVENTS_PER_REQUEST: Final = 10


@dataclass(frozen=True)
class Budget:
    """Most work one ``lbsim`` command may do without ``--allow-large``.

    Attributes:
        segments: Segments of one run (all variants).
        memory: Bytes of memory of one run.
        pcap: Bytes of unlimited packet captures (``--pcap`` without a limit).
        sweep_segments: Segments of a whole sweep (all points and replications).
    """

    segments: float = 50e6
    memory: float = 2e9
    pcap: float = 500e6
    sweep_segments: float = 2e9


BUDGET: Final = Budget()
"""The default budget (docs/reference/cli.md, "Work estimate and budget")."""


@dataclass(frozen=True)
class Estimate:
    """Predicted work of one run of a scenario (all its variants).

    Attributes:
        requests: Requests issued, all variants together.
        segments: TCP segments on both sides of the balancer, all variants.
        events: Scheduled simulation events, all variants.
        memory: Peak memory, bytes.
        data_bytes: Payload bytes on both sides, all variants (for captures).
        variants: Number of balancer variants.
        why: The largest contributor, in words (for messages).
    """

    requests: float
    segments: float
    events: float
    memory: float
    data_bytes: float
    variants: int
    why: str

    def summary(self) -> str:
        """The estimate in one line, e.g. ``~22k requests, ~3.1M segments, ...``."""
        return (
            f"~{_count(self.requests)} requests, ~{_count(self.segments)} segments, "
            f"~{_count(self.events)} events, ~{_bytes(self.memory)} of memory "
            f"({self.variants} variant{'s' * (self.variants != 1)})"
        )


def _count(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _bytes(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    for limit, suffix in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if value >= limit:
            return f"{value / limit:.3g} {suffix}"
    return f"{value:.0f} B"


def _data_segments(size: float, mss: float) -> float:
    return max(1.0, math.ceil(size / mss))


def _mean(distribution: Any) -> float:
    value = float(distribution.mean)
    return value if math.isfinite(value) else 0.0


@dataclass
class _Group:
    """What the estimate needs to know about one client group."""

    requests: float = 0.0
    connections: float = 0.0
    client_segments: float = 0.0
    backend_data_segments: float = 0.0
    data_bytes: float = 0.0
    users: float = 0.0


def _group_work(scenario: Scenario, client: ClientGroup, horizon: float) -> _Group:
    """Requests, connections and segments of one client group (one variant)."""
    link = client.link or scenario.network.client_link
    backend_link = scenario.network.backend_link
    mss_c, mss_b = link.mtu - 40, backend_link.mtu - 40
    weights = [spec.weight for spec in client.requests]
    total_weight = sum(weights)
    services = [_mean(group.service_time) for group in scenario.backends]
    default_service = sum(services) / len(services)
    size = response = service = data_c = data_b = 0.0
    for spec, weight in zip(client.requests, weights, strict=True):
        share = weight / total_weight
        req, resp = _mean(spec.size), _mean(spec.response)
        size += share * req
        response += share * resp
        service += share * (_mean(spec.service_time) if spec.service_time else default_service)
        data_c += share * (_data_segments(req, mss_c) + _data_segments(resp, mss_c))
        data_b += share * (_data_segments(req, mss_b) + _data_segments(resp, mss_b))
    tls = client.tls.version if client.tls is not None else None
    per_connection = max(1, client.requests_per_connection)
    rtt = 2 * (link.latency + backend_link.latency)
    transmit = (size + response) * 8 / link.bandwidth + (size + response) * 8 / (
        backend_link.bandwidth
    )
    work = _Group()
    if client.rate is not None:
        sessions = client.rate * horizon
        if client.protocol == "multiplexed":
            work.requests = sessions
            work.connections = float(client.connections or client.hosts)
        else:
            work.requests = sessions * per_connection
            work.connections = sessions
    else:
        assert client.count is not None  # closed loop: the schema requires one of the two
        setup = rtt * (1 + (_TLS_ROUND_TRIPS.get(tls, 0) if tls else 0)) / per_connection
        cycle = _mean(client.think_time) + rtt + service + transmit + setup
        users = client.count * client.streams
        work.users = float(client.count)
        work.requests = math.inf if cycle <= 0 else users / cycle * horizon
        work.connections = (
            float(client.count)
            if client.protocol == "multiplexed"
            else work.requests / per_connection
        )
    handshake = _CONNECTION_SEGMENTS + (_TLS_SEGMENTS.get(tls, 0) if tls else 0)
    work.client_segments = (
        work.requests * data_c * (1 + _ACKS_PER_DATA_SEGMENT) + work.connections * handshake
    )
    work.backend_data_segments = data_b * (1 + _ACKS_PER_DATA_SEGMENT)
    work.data_bytes = work.requests * (size + response)
    return work


def _capacity(scenario: Scenario) -> float:
    """Requests per second the backends can serve at most (inf if service takes no time)."""
    total = 0.0
    for group in scenario.backends:
        service = _mean(group.service_time)
        if service <= 0:
            return math.inf
        total += group.count * group.workers / service
    return total


def estimate(
    scenario: Scenario, *, trace_segments: bool = False, variants: int | None = None
) -> Estimate:
    """Predict the work and memory of one run of ``scenario`` (module docstring).

    Args:
        scenario: A validated :class:`lbsim.scenario.Scenario`.
        trace_segments: Whether segment records are kept (``--trace-segments``).
        variants: Balancer variants run (default: all of the scenario's).

    Returns:
        The estimate.
    """
    horizon = scenario.duration
    groups = [_group_work(scenario, client, horizon) for client in scenario.clients]
    closed = sum(
        g.requests for g, c in zip(groups, scenario.clients, strict=True) if c.rate is None
    )
    cap = _capacity(scenario) * horizon
    if closed > cap:  # closed loops wait for their answers: the backends set the pace
        scale = cap / closed
        for group, client in zip(groups, scenario.clients, strict=True):
            if client.rate is None:
                group.requests *= scale
                group.client_segments *= scale
                if client.protocol != "multiplexed":
                    group.connections *= scale
                group.data_bytes *= scale
    backends = len(scenario.backend_names())
    balancers = list(scenario.balancers)[: variants or len(scenario.balancers)]
    requests = segments = data_bytes = memory_tables = checks = 0.0
    # A star has two hops (client side, backend side); a topology's path crosses
    # every router and tier on the way, each hop carrying the segments again.
    topology = scenario.topology
    hop_factor = 1.0 if topology is None else (len(topology.tiers) + len(topology.routers) + 1) / 2
    for balancer in balancers:
        client_side = sum(g.client_segments for g in groups)
        forwards = balancer.layer == 4 and balancer.mode in ("nat", "dsr")
        backend_side = (
            client_side
            if forwards
            else sum(g.requests * g.backend_data_segments for g in groups)
            + sum(g.connections for g in groups) * _CONNECTION_SEGMENTS / 4
        )
        if balancer.health_check is not None:
            count = backends * horizon / balancer.health_check.interval
            checks += count
            backend_side += count * _CHECK_SEGMENTS[balancer.health_check.kind]
        requests += sum(g.requests for g in groups)
        segments += (client_side + backend_side) * hop_factor
        data_bytes += 2 * sum(g.data_bytes for g in groups)
        params = dict(balancer.params)
        points = float(params.get("vnodes", 0) or 0) + float(params.get("table_size", 0) or 0) / 10
        memory_tables = max(
            memory_tables,
            backends * points * _RING_POINT_BYTES + balancer.pool.warm * backends * _POOLED_BYTES,
        )
    connections = sum(g.connections for g in groups) * len(balancers)
    users = sum(g.users * c.streams for g, c in zip(groups, scenario.clients, strict=True))
    memory = (
        _BASE_MEMORY
        + requests * _REQUEST_BYTES
        + connections * _CONNECTION_BYTES
        + users * _USER_BYTES
        + memory_tables
        + (segments * _SEGMENT_RECORD_BYTES if trace_segments else 0.0)
    )
    events = segments * _EVENTS_PER_SEGMENT + requests * _EVENTS_PER_REQUEST + checks * 4
    why = _largest(scenario, groups, requests, checks)
    return Estimate(requests, segments, events, memory, data_bytes, len(balancers), why)


def _largest(scenario: Scenario, groups: list[_Group], requests: float, checks: float) -> str:
    """Name what makes most of the work, for the refusal message."""
    if checks > requests:
        return "health checks (interval x backends)"
    best = max(range(len(groups)), key=lambda i: groups[i].client_segments)
    client = scenario.clients[best]
    group = groups[best]
    if not math.isfinite(group.requests):
        return (
            f'client group "{client.name}": its requests take no simulated time (no think '
            "time, latency, service or transmission time), so the run would never end"
        )
    per_request = group.client_segments / group.requests if group.requests else 0.0
    return (
        f'client group "{client.name}": ~{_count(group.requests)} requests of '
        f"~{_count(per_request)} segments each"
    )


def pcap_bytes(work: Estimate) -> float:
    """Bytes of an unlimited capture: payload plus ~70 bytes of headers per segment."""
    return work.data_bytes + work.segments * 70


def over_budget(
    work: Estimate, budget: Budget = BUDGET, *, pcap_unlimited: bool = False
) -> str | None:
    """Why ``work`` exceeds ``budget``, in one line, or None if it fits.

    Args:
        work: The estimate of one run.
        budget: The limits.
        pcap_unlimited: ``--pcap`` is asked for without a connection or time limit.

    Returns:
        The reason, ending with how to proceed, or None.
    """
    advice = "shorten the duration or scale the scenario down, or pass --allow-large to run it"
    if not math.isfinite(work.segments) or work.segments > budget.segments:
        return (
            f"the run is estimated at {work.summary()}, over the budget of "
            f"{_count(budget.segments)} segments; most of it: {work.why}; {advice}"
        )
    if work.memory > budget.memory:
        return (
            f"the run is estimated at {work.summary()}, over the memory budget of "
            f"{_bytes(budget.memory)}; most of it: {work.why}; {advice}"
        )
    if pcap_unlimited and pcap_bytes(work) > budget.pcap:
        return (
            f"an unlimited --pcap of this run would write ~{_bytes(pcap_bytes(work))}, over the "
            f"budget of {_bytes(budget.pcap)}; limit it with --pcap-connections N or "
            "--pcap-window T0:T1, or pass --allow-large"
        )
    return None


def sweep_over_budget(per_run: float, runs: int, budget: Budget = BUDGET) -> str | None:
    """Why a sweep of ``runs`` runs of ~``per_run`` segments is too large, or None."""
    total = per_run * runs
    if total > budget.sweep_segments:
        return (
            f"the sweep is estimated at ~{_count(total)} segments ({runs} runs of up to "
            f"~{_count(per_run)}), over the budget of {_count(budget.sweep_segments)}; use "
            "fewer grid points or replications, or pass --allow-large"
        )
    return None
