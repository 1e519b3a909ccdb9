"""Traced runs for teaching: every segment of one variant, with the messages it carries.

Theory of operation: the per-hop layer view and the ladder diagram need more than
``segments.csv`` gives. They need to know which segment carries which request (so
they can follow one request from the client through the balancer to the backend and
back) and when each segment *arrived*, not only when it left. Both are available
while the engine runs, without changing it:

* :func:`lbsim.sim.build_variant` with ``trace_segments=True`` records a
  :class:`~lbsim.records.SegmentRecord` for every segment offered to every link;
* a *tap* on the same links sees the live :class:`~lbsim.net.segment.Segment`
  values, including ``ends``: the application messages (HTTP requests and
  responses, raw requests, TLS records) whose last byte the segment carries. The
  tap is called right after the segment tracer for the same segment, so the n-th
  tap call and the n-th record describe the same segment. It also computes the
  arrival time exactly as the link does: ``start + wire_bytes * 8 / bandwidth +
  latency``.

:func:`trace_variant` runs one variant this way and returns a :class:`Trace`:
DataFrames from :func:`lbsim.results.build_results` (segments gain ``ip_length``
and ``arrival`` columns), the message marks by segment row, and the links'
parameters. Given a ``request_id`` it stops soon after that request's connection
has closed (or the request has finished and its segments have settled), so a
student can trace request ``browsers-3-17`` of a 60-second scenario without
simulating, and holding in memory, all of it.

Nothing here changes what the engine does: the trace is pure observation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lbsim.net.link import Link, wire_bytes
from lbsim.net.segment import HEADERS, SYN_OPTIONS, Segment
from lbsim.records import DecisionRecord, Recorder
from lbsim.results import Results, build_results
from lbsim.scenario import Scenario
from lbsim.scenario.schema import BalancerConfig
from lbsim.sim import VariantRun, build_variant
from lbsim.teach.decisions import recorded_decisions

__all__ = [
    "LinkInfo",
    "Trace",
    "arrival_times",
    "trace_variant",
]

#: Simulated seconds between two checks of whether a traced request is done.
_STEP = 0.02
#: Extra simulated time after the traced request (or its connection) ended, in
#: one-way client-to-backend latencies: the closing handshake crosses the path
#: three times, and one more is a margin.
_LINGER_LATENCIES = 4


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """One one-way link of a run, as the ladder diagram needs it.

    Attributes:
        name: ``SENDER>RECEIVER``, e.g. ``browsers-h3>l4``.
        side: ``client`` or ``backend``.
        sender: Node that transmits on it.
        receiver: Node at the far end.
        latency: One-way propagation delay, seconds.
        bandwidth: Bits per second.
        mtu: Largest IPv4 packet, bytes.
    """

    name: str
    side: str
    sender: str
    receiver: str
    latency: float
    bandwidth: float
    mtu: int

    @classmethod
    def of(cls, link: Link) -> LinkInfo:
        """The description of an engine link."""
        sender, _, receiver = link.name.partition(">")
        return cls(link.name, link.side, sender, receiver, link.latency, link.bandwidth, link.mtu)


@dataclass(frozen=True)
class Trace:
    """One balancer variant's run with every segment traced.

    Attributes:
        scenario: The scenario that was run.
        balancer: The variant's balancer configuration.
        results: Tables of the (possibly partial) run. ``results.segments`` has one
            row per segment offered to a link, in the order the engine sent them,
            plus ``ip_length`` (IPv4 bytes) and ``arrival`` (when it reached the far
            end; NaN if dropped).
        marks: Segment row -> ``(offset, message)`` pairs: the application
            messages whose last byte that segment carries (rows without any are
            absent).
        links: Link name -> its parameters.
        backends: Backend instance names of the run, in order.
        end_time: Simulated time at which tracing stopped.
        complete: Whether the run went to its end (not stopped after a request).
        decisions: The decisions the devices recorded, in time order
            (:mod:`lbsim.teach.decisions`).
    """

    scenario: Scenario
    balancer: BalancerConfig
    results: Results
    marks: Mapping[int, tuple[tuple[int, Any], ...]]
    links: Mapping[str, LinkInfo]
    backends: tuple[str, ...]
    end_time: float
    complete: bool
    decisions: tuple[DecisionRecord, ...] = ()

    @property
    def variant(self) -> str:
        """The balancer variant's name (also the balancer node's name)."""
        return self.balancer.name

    @property
    def layer(self) -> int:
        """4 or 7."""
        return self.balancer.layer

    @property
    def mode(self) -> str | None:
        """Layer-4 mode (``nat``, ``proxy``, ``dsr``), ``None`` at layer 7."""
        return self.balancer.mode if self.balancer.layer == 4 else None

    @property
    def segments(self) -> pd.DataFrame:
        """Every traced segment (see :attr:`results`)."""
        return self.results.segments

    @property
    def requests(self) -> pd.DataFrame:
        """Requests finished while tracing (one row each)."""
        return self.results.requests

    def cell(self, row: int, column: str) -> Any:
        """One value of ``segments`` (row as numbered in the trace)."""
        return self.segments.at[row, column]

    def request(self, request_id: str) -> pd.Series:
        """The requests-table row of ``request_id``.

        Raises:
            KeyError: If no such request finished while tracing.
        """
        rows = self.requests[self.requests["request_id"] == request_id]
        if rows.empty:
            known = ", ".join(self.requests["request_id"].head(5))
            raise KeyError(
                f"no request {request_id!r} in this trace of {self.variant!r}"
                + (f" (the first are: {known}, ...)" if known else "")
            )
        return rows.iloc[0]

    def role(self, node: str) -> str:
        """What a node of the run is: ``client``, ``balancer``, ``router`` or ``backend``.

        With direct server return the backends' answers reach the clients through
        their default gateway, the node ``router`` (it rewrites the MAC addresses
        and decrements the TTL).
        """
        if node == self.balancer.name:
            return "balancer"
        if node == "router":
            return "router"
        if node in self.backends:
            return "backend"
        return "client"


class _MarkTap:
    """Observer of every segment: exact arrival time, IP length and message marks."""

    def __init__(self) -> None:
        self.ip_length: list[int] = []
        self.arrival: list[float] = []
        self.marks: dict[int, tuple[tuple[int, Any], ...]] = {}

    def __call__(self, link: Link, seg: Segment, t: float, dropped: bool) -> None:
        row = len(self.ip_length)
        ip_length = seg.ip_length
        self.ip_length.append(ip_length)
        # The same arithmetic as Link.send, so the result equals the delivery time.
        done = t + wire_bytes(ip_length) * (8.0 / link.bandwidth)
        self.arrival.append(float("nan") if dropped else done + link.latency)
        if seg.ends:
            self.marks[row] = seg.ends


def trace_variant(
    scenario: Scenario,
    variant: str,
    *,
    request_id: str | None = None,
    until: float | None = None,
    first_request: bool = False,
) -> Trace:
    """Run one variant with every segment traced.

    Args:
        scenario: A validated scenario (keep it short: tracing costs memory).
        variant: Name of the balancer variant to run.
        request_id: Stop soon after this request's connection has closed (or, on a
            long-lived connection, once the request is answered and its segments
            have arrived).
        until: Stop at this simulated time at the latest.
        first_request: Without ``request_id``: stop soon after the first request
            of the run finishes (whichever it is).

    Returns:
        The trace.

    Raises:
        KeyError: If ``variant`` is not a balancer of the scenario, or
            ``request_id`` names no client group of it.
    """
    names = [b.name for b in scenario.balancers]
    if variant not in names:
        raise KeyError(f"no balancer variant {variant!r} (variants: {', '.join(names)})")
    if request_id is not None:
        groups = [c.name for c in scenario.clients]
        if not any(request_id.startswith(f"{g}-") for g in groups):
            raise KeyError(
                f"no request {request_id!r}: request ids look like GROUP-USER-SEQ, "
                f"with GROUP one of: {', '.join(groups)}"
            )
    tap = _MarkTap()
    build = build_variant(scenario, variant, trace_segments=True, taps=[tap])
    balancer = build.balancer
    started = time.perf_counter()
    deadline = scenario.duration + scenario.drain
    if until is not None:
        deadline = min(deadline, until)
    recorder = build.recorder
    complete = False
    if request_id is None and until is None and not first_request:
        run = build.run()
        complete = True
    else:
        linger = _linger(build.links)
        build.start()
        env = build.env
        stop_at: float | None = None
        scanned = 0
        issued = False  # whether the traced request has been seen in flight
        while env.now < deadline:
            if stop_at is not None and env.now >= stop_at:
                break
            target = min(env.now + _STEP, deadline)
            if stop_at is not None:
                target = min(target, stop_at)
            env.run(until=target)
            if stop_at is not None or (request_id is None and not first_request):
                continue
            stop_at, scanned = _stop_time(recorder, request_id, linger, scanned)
            if request_id is not None and stop_at is None:
                issued = issued or any(
                    request_id in getattr(runner, "in_flight", ()) for runner in build.clients
                )
                if not issued and env.now > scenario.duration:
                    break  # no request is issued after `duration`: this one never was
        run = VariantRun(
            name=balancer.name,
            layer=balancer.layer,
            algorithm=balancer.algorithm,
            recorder=recorder,
            backends=build.eligible,
            wall_seconds=time.perf_counter() - started,
            end_time=env.now,
        )
    if len(tap.ip_length) != len(recorder.segments):  # pragma: no cover - engine contract
        raise RuntimeError("segment tap and segment trace disagree")
    results = build_results(scenario, [run])
    segments = results.segments
    segments["ip_length"] = np.asarray(tap.ip_length, dtype="int64")
    segments["arrival"] = np.asarray(tap.arrival, dtype="float64")
    return Trace(
        scenario=scenario,
        balancer=balancer,
        results=results,
        marks=tap.marks,
        links={link.name: LinkInfo.of(link) for link in build.links},
        backends=tuple(b.name for b in build.backends),
        end_time=run.end_time,
        complete=complete,
        decisions=tuple(recorded_decisions(build)),
    )


def _linger(links: list[Link]) -> float:
    """How long to go on after the traced request's last event (see ``_LINGER_LATENCIES``)."""
    path = sum(
        max((k.latency for k in links if k.side == side), default=0.0)
        for side in ("client", "backend")
    )
    return _LINGER_LATENCIES * path + 0.001


def _stop_time(
    recorder: Recorder, request_id: str | None, linger: float, scanned: int
) -> tuple[float | None, int]:
    """When tracing for ``request_id`` may stop (``None``: not yet known).

    Args:
        recorder: The running variant's recorder.
        request_id: The traced request (``None``: any request).
        linger: Extra time to let the last segments arrive.
        scanned: Request records already looked at in earlier calls.

    Returns:
        The stop time or ``None``, and the number of request records looked at.
    """
    requests = recorder.requests
    record = next(
        (r for r in requests[scanned:] if request_id is None or r.request_id == request_id), None
    )
    if record is None:
        return None, len(requests)
    closed = [c for c in recorder.connections if c.connection == record.connection]
    if closed and closed[-1].t_close is not None:
        return max(record.t_end, closed[-1].t_close) + linger, len(requests)
    # A long-lived connection: a little more than the response's ACK needs.
    return record.t_end + linger, len(requests)


def arrival_times(segments: pd.DataFrame, links: Mapping[str, LinkInfo]) -> pd.Series:
    """Arrival times of segments from a ``segments.csv``-style table.

    A :class:`Trace` already has an exact ``arrival`` column; this rebuilds it for
    tables written by ``lbsim run --trace-segments``: arrival = send time + wire
    bytes x 8 / bandwidth + latency, where a SYN also carries 8 bytes of TCP options
    (MSS and window scale), as every SYN of the engine does.

    Args:
        segments: Rows with ``time``, ``link``, ``flags``, ``payload``, ``dropped``.
        links: Link name -> parameters.

    Returns:
        Arrival time per row (NaN for dropped segments).
    """
    syn = segments["flags"].fillna("").str.contains("SYN")
    ip_length = HEADERS + segments["payload"].astype("int64") + np.where(syn, SYN_OPTIONS, 0)
    latency = segments["link"].map(lambda name: links[name].latency)
    byte_time = segments["link"].map(lambda name: 8.0 / links[name].bandwidth)
    wire = ip_length.map(wire_bytes)
    arrival = segments["time"] + wire * byte_time + latency
    return arrival.where(~segments["dropped"].astype(bool))
