"""The viewer's data: every segment of a variant's run in a window, as JSON-able columns.

Theory of operation: for each variant shown, :func:`variant_model` runs it once
with three observers on every link: the segment tracer (the rows of
``segments.csv``), a tap that notes each segment's arrival time and message marks
(the application messages whose last byte it carries), and the packet capture,
whose frames give MACs, TTL, checksums and payload bytes
(:mod:`lbsim.teach.viewer.frames`). The run stops shortly after the window ends.

An *event* is one traced segment whose send time lies in the window (and, under
a connection or client limit, whose packet the capture kept): it goes from the
link's sender to its receiver. Events are in order of send time, ties in the
trace's order (``segments.csv`` sorted stably by ``time``). For each event the
model records the header values on that link, the event its receiver sent on
because of it and the decisions taken when it arrived
(:mod:`lbsim.teach.viewer.relations`). Device decisions are
:class:`~lbsim.records.DecisionRecord` values: the ones the engine recorded, and
those :mod:`lbsim.teach.decisions` derives from the request records.
Columns hold small integers and indices into one shared string table (about 200
bytes of page per event).

On a scenario with ``topology:`` every hop of every element is an event (client
host to site, site to router, router to a tier instance, ...), the capture names
every element (:func:`lbsim.capture.tier_point.element_addresses`), and the model
gains a ``layout``: the graph's elements placed for drawing
(:mod:`lbsim.teach.viewer.tier_model`). Without one, the model is what it always was.
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbsim.capture.capture import VariantCapture
from lbsim.capture.limits import CaptureLimits, host_addresses
from lbsim.capture.tier_point import element_addresses
from lbsim.net.addresses import LB_INSIDE, VIP, ip_to_str
from lbsim.net.link import Link, wire_bytes
from lbsim.net.segment import Segment
from lbsim.records import DecisionRecord, SegmentRecord, new_segment_record
from lbsim.scenario import Scenario
from lbsim.spill import RecordLog
from lbsim.teach.decisions import recorded_decisions
from lbsim.teach.layers import balancer_kind, component_layers
from lbsim.teach.messages import is_request, request_id_of, tls_version
from lbsim.teach.viewer.frames import join_frames, payload_view
from lbsim.teach.viewer.relations import attach_decisions, outgoing
from lbsim.teach.viewer.tier_model import element_roles, graph_layout, path_latency_bound
from lbsim.teach.viewer.tier_select import linked_rows

__all__ = ["MAX_EVENTS", "PageTooLarge", "Strings", "ViewerLimits", "variant_model"]

#: Most events one page holds (all variants together); past it ``lbsim view`` refuses.
MAX_EVENTS = 200_000
#: The device that carries DSR replies (the backends' gateway).
ROUTER = "router"


class PageTooLarge(ValueError):
    """More events than :data:`MAX_EVENTS`; the message says which option to use."""


@dataclass(frozen=True, slots=True)
class ViewerLimits:
    """What one page shows.

    Attributes:
        window: Events sent at ``t0 <= time < t1`` (seconds); ``None``: all.
        connections: The first N client connections (per variant).
        client: One client host, group or address.
        max_events: Refuse past this many events in the page.
    """

    window: tuple[float, float] | None = None
    connections: int | None = None
    client: str | None = None
    max_events: int = MAX_EVENTS

    def capture_limits(self, latest_arrival: float) -> CaptureLimits:
        """The capture's limits: its window is in capture time, so it is widened."""
        window = None
        if self.window is not None:
            window = (self.window[0], self.window[1] + latest_arrival)
        return CaptureLimits(connections=self.connections, window=window, client=self.client)

    def hint(self) -> str:
        """Which option makes a page smaller, in words."""
        if self.window is None:
            return "use --window T0:T1 (e.g. --window 0:2) or --connections N"
        if self.connections is None:
            return "use a shorter --window or --connections N"
        return "use a shorter --window or fewer --connections"


@dataclass
class Strings:
    """One table of the page's strings; columns hold indices into it."""

    values: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def __call__(self, text: str) -> int:
        """The index of ``text`` (added if new)."""
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.values)
            self.values.append(text)
        return i


class _Tap:
    """Arrival time and message marks of every segment, in trace order."""

    def __init__(self, limits: ViewerLimits, budget: int) -> None:
        self.arrival: list[float] = []
        self.marks: dict[int, tuple[tuple[int, Any], ...]] = {}
        self.window = limits.window or (0.0, math.inf)
        self.by_connection = limits.connections is not None or limits.client is not None
        self.in_window = 0
        self.budget = budget

    def __call__(self, link: Link, seg: Segment, t: float, dropped: bool) -> None:
        row = len(self.arrival)
        done = t + wire_bytes(seg.ip_length) * (8.0 / link.bandwidth)
        self.arrival.append(math.nan if dropped else done + link.latency)
        if seg.ends:
            self.marks[row] = seg.ends
        if self.window[0] <= t < self.window[1]:
            self.in_window += 1
            if not self.by_connection and self.in_window > self.budget:
                raise PageTooLarge("too many events")


def _kind(flags: str, length: int, l6: str, l7: str) -> str:
    names = set(flags.split(",")) if flags else set()
    if "RST" in names:
        return "RST"
    if "SYN" in names:
        return "SYN-ACK" if "ACK" in names else "SYN"
    if "FIN" in names:
        return "FIN"
    if not length:
        return "ACK"
    if l7.startswith("HTTP/"):
        return "HTTP response"
    if l7 and l7 != "(encrypted)":
        return "HTTP request"
    if l6 and not l6.startswith("("):
        return "TLS record"
    return "data"


def _run(
    scenario: Scenario, variant: str, limits: ViewerLimits, budget: int, directory: Path
) -> tuple[Any, _Tap, VariantCapture]:
    from lbsim.sim import build_variant

    latest = max(
        (c.latency + 1.0 for c in (scenario.network.client_link, scenario.network.backend_link)),
        default=1.0,
    )
    if scenario.topology is not None:
        latest = max(latest, path_latency_bound(scenario) + 1.0)
    chosen = limits.capture_limits(latest)
    if scenario.topology is not None:
        # The page picks a topology's connections itself (tier_select), on every link.
        chosen = CaptureLimits(window=chosen.window)
    capture = VariantCapture(scenario, variant, directory, chosen)
    if scenario.topology is not None:
        # Every element is named, so the capture tells each hop's two ends apart.
        capture.add_hosts(element_addresses(scenario))
    tap = _Tap(limits, budget)
    build = build_variant(scenario, variant, trace_segments=True, taps=[tap, capture.tap])
    capture.bind(build.env)
    try:
        if limits.window is None or math.isinf(limits.window[1]):
            build.run()
        else:
            build.start()
            end = min(scenario.duration + scenario.drain, limits.window[1] + 2 * latest)
            build.env.run(until=end)
        capture.finish()
    except BaseException:
        capture.discard()
        raise
    return build, tap, capture


#: The fields that match a traced segment to its captured frame (``join_frames``).
_FRAME_KEY = ("side", "src", "dst", "sport", "dport", "seq", "ack", "flags", "payload")


def variant_model(
    scenario: Scenario,
    variant: str,
    limits: ViewerLimits,
    strings: Strings,
    budget: int,
) -> dict[str, Any]:
    """Run one variant and describe its events in the window.

    Args:
        scenario: A validated scenario.
        variant: Balancer variant name.
        limits: What the page shows.
        strings: The page's string table (extended here).
        budget: Events this variant may still add to the page.

    Returns:
        The variant's part of the page model (JSON-able).

    Raises:
        PageTooLarge: If the variant has more than ``budget`` events in the window.
        KeyError: If there is no such variant.
    """
    with tempfile.TemporaryDirectory(prefix="lbsim-view-") as tmp:
        build, tap, capture = _run(scenario, variant, limits, budget, Path(tmp))
        frames = join_frames({"client": capture.files.client, "backend": capture.files.backend})
    records: RecordLog[SegmentRecord] = build.recorder.segments
    t0, t1 = limits.window or (0.0, math.inf)
    by_connection = limits.connections is not None or limits.client is not None
    balancer = build.balancer
    links = {link.name: i for i, link in enumerate(build.links)}
    rows: list[tuple[int, SegmentRecord, dict[str, Any] | None]] = []
    kept_connections: set[str] = set()
    linked = None
    if scenario.topology is not None and by_connection:
        linked = linked_rows(
            scenario, balancer.name, records, tap.marks, limits.connections, limits.client
        )
        by_connection = False
    # The records are read as columns, a chunk at a time, and a record is built only
    # for a row the page keeps: a run's trace is a million rows, its page a few
    # thousand (building every record was a fifth of a `--connections` page's time).
    row = 0
    for chunk in records.column_chunks():
        columns = [chunk[name] for name in records.names]
        times = chunk["time"]
        dropped = chunk["dropped"]
        key_columns = [chunk[name] for name in _FRAME_KEY]
        connection = chunk["connection"]
        for i, time in enumerate(times, row):
            if not t0 <= time < t1 or (linked is not None and i not in linked):
                continue
            j = i - row
            frame = None
            if not dropped[j]:
                queue = frames.get(tuple([column[j] for column in key_columns]))
                frame = queue.popleft() if queue else None
                if frame is None and by_connection:
                    continue
                kept_connections.add(connection[j])
            rows.append((i, new_segment_record(*[column[j] for column in columns]), frame))
        row += len(times)
    if by_connection:
        rows = [r for r in rows if not r[1].dropped or r[1].connection in kept_connections]
    if len(rows) > budget:
        raise PageTooLarge("too many events")
    # In order of send time (a queued segment starts later than it was handed to
    # its link); ties keep the trace's order.
    rows.sort(key=lambda r: r[1].time)
    return _columns(scenario, build, balancer, links, rows, tap, strings)


def _tls_connections(rows: list[tuple[int, SegmentRecord, Any]], tap: _Tap) -> set[str]:
    tls: set[str] = set()
    for row, rec, _ in rows:
        for _, message in tap.marks.get(row, ()):
            if tls_version(message) is not None:
                tls.add(rec.connection)
    return tls


def _columns(
    scenario: Scenario,
    build: Any,
    balancer: Any,
    links: dict[str, int],
    rows: list[tuple[int, SegmentRecord, dict[str, Any] | None]],
    tap: _Tap,
    s: Strings,
) -> dict[str, Any]:
    """Turn the kept rows into the page's columns (see the module docstring)."""
    tls = _tls_connections(rows, tap)
    cols: dict[str, list[Any]] = defaultdict(list)
    isn: dict[tuple[str, str, int], int] = {}
    pending: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    link_list = build.links
    # Message ends per event: (request id, is request) pairs.
    ends: list[list[tuple[str, bool]]] = []
    for i, (row, rec, frame) in enumerate(rows):
        link = link_list[links[rec.link]]
        sender, _, receiver = rec.link.partition(">")
        payload = frame["payload"] if frame else b""
        l6, l7 = payload_view(payload, rec.connection in tls)
        if rec.connection in tls and not payload and rec.payload:
            l6, l7 = "(not captured)", "(encrypted)"
        kind = _kind(rec.flags, rec.payload, l6, l7)
        src_key = (rec.connection, rec.src, rec.sport)
        dst_key = (rec.connection, rec.dst, rec.dport)
        if "SYN" in rec.flags:
            isn[src_key] = rec.seq
        base = isn.get(src_key)
        peer = isn.get(dst_key)
        messages = [
            (rid, is_request(m))
            for _, m in tap.marks.get(row, ())
            if (rid := request_id_of(m)) is not None
        ]
        ends.append(messages)
        request = messages[0][0] if messages else None
        if tap.marks.get(row):
            # The data segments before this one carried the same message's first bytes.
            waiting = pending.pop(src_key, [])
            if request is not None:
                for j in waiting:
                    cols["req"][j] = s(request)
        elif rec.payload:
            pending[src_key].append(i)
        arrival = tap.arrival[row]
        cols["t"].append(rec.time)
        cols["ta"].append(None if math.isnan(arrival) else arrival)
        cols["link"].append(links[rec.link])
        cols["from"].append(s(sender))
        cols["at"].append(s(receiver))
        cols["src"].append(s(rec.src))
        cols["dst"].append(s(rec.dst))
        cols["sp"].append(rec.sport)
        cols["dp"].append(rec.dport)
        cols["seq"].append(rec.seq)
        cols["ack"].append(rec.ack)
        cols["rseq"].append(-1 if base is None else (rec.seq - base) % 2**32)
        acked = peer is not None and "ACK" in rec.flags
        cols["rack"].append((rec.ack - peer) % 2**32 if acked and peer is not None else -1)
        cols["fl"].append(s(rec.flags))
        cols["win"].append(rec.window)
        cols["len"].append(rec.payload)
        cols["drop"].append(1 if rec.dropped else 0)
        cols["conn"].append(s(rec.connection))
        cols["req"].append(s(request) if request is not None else -1)
        cols["kind"].append(s(kind))
        cols["wire"].append(wire_bytes(frame["iplen"]) if frame else 0)
        cols["bw"].append(link.bandwidth)
        for name in ("smac", "dmac"):
            cols[name].append(s(frame[name]) if frame else -1)
        for name in ("ttl", "ipid", "ipsum", "tcpsum", "mss", "wscale", "iplen"):
            cols[name].append(frame[name] if frame else -1)
        cols["l6"].append(s(l6))
        cols["l7"].append(s(l7))
    n = len(rows)
    roles = None if scenario.topology is None else element_roles(scenario, balancer.name)
    out = outgoing(rows, ends, balancer, tap.arrival, roles)
    kinds = {balancer.name: balancer_kind(balancer)}
    decisions = recorded_decisions(build)
    chosen, attached = attach_decisions(decisions, rows, ends, tap.arrival)
    table = [_decision_json(d) for d in chosen]
    cols["out"] = out
    cols["dec"] = [attached.get(i, []) for i in range(n)]
    extra: dict[str, Any] = {}
    if scenario.topology is None:
        nodes = _nodes(scenario, build, balancer)
    else:
        used = {part for _, rec, _ in rows for part in rec.link.split(">")}
        nodes, extra["layout"] = graph_layout(scenario, balancer.name, used)
    return {
        "name": balancer.name,
        "layer": balancer.layer,
        "kind": kinds[balancer.name],
        "label": component_layers(kinds[balancer.name]).label,
        "algorithm": balancer.algorithm,
        "nodes": nodes,
        "links": [
            {
                "name": link.name,
                "from": link.name.partition(">")[0],
                "to": link.name.partition(">")[2],
                "side": link.side,
                "latency": link.latency,
                "bandwidth": link.bandwidth,
                "mtu": link.mtu,
            }
            for link in link_list
        ],
        "decisions": table,
        "events": dict(cols),
        "count": n,
        **extra,
    }


def _nodes(scenario: Scenario, build: Any, balancer: Any) -> list[dict[str, Any]]:
    hosts = host_addresses(scenario)
    nodes = []
    used = {part for link in build.links for part in link.name.split(">")}
    backends = {b.name for b in build.backends}
    for name, ip in hosts.items():
        if name in used:
            role = "backend" if name in backends else "client"
            nodes.append({"name": name, "role": role, "ip": ip_to_str(ip)})
    nodes.append(
        {
            "name": balancer.name,
            "role": "balancer",
            "ip": f"VIP {ip_to_str(VIP)} / inside {ip_to_str(LB_INSIDE)}",
        }
    )
    if ROUTER in used:
        nodes.append({"name": ROUTER, "role": "router", "ip": "backends' gateway"})
    return nodes


def _decision_json(d: DecisionRecord) -> dict[str, Any]:
    return {
        "time": d.time,
        "device": d.device,
        "reason": d.reason,
        "conn": d.connection,
        "request": d.request,
        "backend": d.backend,
        "values": dict(d.values),
    }
