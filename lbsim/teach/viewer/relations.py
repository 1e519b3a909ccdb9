"""How the viewer's events relate: which one a device sent on, and where decisions attach.

Theory of operation: each event is one segment on one link (rows of the trace,
see :mod:`lbsim.teach.viewer.model`). Two relations make the per-device view:

* :func:`outgoing`: for an event arriving at a device, the event the device sent
  because of it. An L4 NAT balancer and a router forward packets, so the
  outgoing segment has the same sequence and acknowledgement numbers, flags and
  payload length, and leaves no earlier than the packet arrived (matched in
  arrival order). An L7 balancer or an L4 proxy ends TCP: for the segment that
  carries a request's (or response's) last byte, its "out" is the segment that
  carries the same message's last byte on its other connection.
* :func:`attach_decisions`: the event during whose arrival a device took each
  decision (:class:`~lbsim.records.DecisionRecord`): a request decision goes to
  the segment that completed the request at that device; a connection decision
  to the segment of that client connection that arrived at the device exactly
  when it decided, else the first after.

Arrival times are the exact ones the links use (``arrival``, by trace row).
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from lbsim.records import DecisionRecord, SegmentRecord

__all__ = ["attach_decisions", "outgoing"]


def outgoing(
    rows: list[tuple[int, SegmentRecord, Any]],
    ends: list[list[tuple[str, bool]]],
    balancer: Any,
    arrival: list[float],
    roles: tuple[set[str], set[str]] | None = None,
) -> list[int]:
    """Per event, the event its receiver sent on because of it (-1: none).

    Args:
        rows: The events' trace rows and records.
        ends: Per event, the (request id, is request) of the messages it ends.
        balancer: The variant's balancer configuration.
        arrival: Arrival time by trace row.
        roles: On a topology, the elements that forward packets and those that end
            TCP (:func:`lbsim.teach.viewer.tier_model.element_roles`); ``None``
            on a star (the router forwards; the balancer by its mode).
    """
    if roles is None:
        forwarding = balancer.layer == 4 and getattr(balancer, "mode", "nat") != "proxy"
        forwarders = {"router"} | ({balancer.name} if forwarding else set())
        terminators = set() if forwarding else {balancer.name}
    else:
        forwarders, terminators = roles
    sent: dict[tuple[str, int, int, str, int], deque[int]] = defaultdict(deque)
    carried: dict[tuple[str, str, bool], int] = {}
    for i, (_, rec, _) in enumerate(rows):
        sender = rec.link.partition(">")[0]
        if sender in forwarders:
            sent[(sender, rec.seq, rec.ack, rec.flags, rec.payload)].append(i)
        for rid, request in ends[i]:
            carried.setdefault((sender, rid, request), i)
    out = [-1] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: arrival[rows[i][0]])
    for i in order:
        _, rec, _ = rows[i]
        receiver = rec.link.partition(">")[2]
        if rec.dropped:
            continue
        if receiver in forwarders:
            queue = sent.get((receiver, rec.seq, rec.ack, rec.flags, rec.payload))
            arrived = arrival[rows[i][0]]
            while queue and rows[queue[0]][1].time < arrived - 1e-9:
                queue.popleft()  # sent before this arrived: another packet's copy
            if queue:
                out[i] = queue.popleft()
        elif receiver in terminators:
            for rid, request in ends[i]:
                j = carried.get((receiver, rid, request))
                if j is not None and j != i:
                    out[i] = j
                    break
    return out


def _client_end(rec: SegmentRecord) -> str:
    """The client's ``ip:port`` of a segment (client addresses are 100.64.0.0/10)."""
    if rec.src.startswith("100."):
        return f"{rec.src}:{rec.sport}"
    return f"{rec.dst}:{rec.dport}"


def attach_decisions(
    decisions: list[DecisionRecord],
    rows: list[tuple[int, SegmentRecord, Any]],
    ends: list[list[tuple[str, bool]]],
    arrival: list[float],
) -> tuple[list[DecisionRecord], dict[int, list[int]]]:
    """Attach each decision to the event that arrived at its device when it decided.

    Connection decisions name the client-side connection; on the backend side of a
    NAT balancer the same connection has other addresses but the client's address
    and port, so events are found by device and client endpoint: the one that
    arrived exactly when the device decided (a table miss is decided the moment
    the SYN arrives, an MSS clamp the moment the SYN or SYN-ACK does), else the
    first to arrive after it.
    """
    by_conn: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_request: dict[tuple[str, str], int] = {}
    for i, (_, rec, _) in enumerate(rows):
        receiver = rec.link.partition(">")[2]
        by_conn[(receiver, _client_end(rec))].append(i)
        for rid, request in ends[i]:
            if request:
                by_request.setdefault((receiver, rid), i)
    chosen: list[DecisionRecord] = []
    attached: dict[int, list[int]] = defaultdict(list)
    for d in decisions:
        target: int | None = None
        if d.request is not None:
            target = by_request.get((d.device, d.request))
        if target is None and d.connection:
            candidates = by_conn.get((d.device, d.connection.split("-")[0]), [])
            later = [i for i in candidates if arrival[rows[i][0]] >= d.time - 1e-9]
            exact = [i for i in later if arrival[rows[i][0]] <= d.time + 1e-9]
            found = exact or later
            target = found[0] if found else None
        if target is None:
            continue
        attached[target].append(len(chosen))
        chosen.append(d)
    return chosen, attached
