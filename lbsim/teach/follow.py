"""Follow one request through a traced run: which segments carried it on each link.

Theory of operation: a request crosses (up to) four one-way links, its *legs*:

    client --1--> balancer --2--> backend --3--> balancer --4--> client

(with direct server return, legs 3 and 4 pass a router instead of the balancer;
a request the balancer answers itself, from its cache or with a refusal, has legs
1 and 4 only). On each leg, the segment whose ``ends`` carries the request (legs 1
and 2) or its response (legs 3 and 4) holds the message's *last* byte at a known
offset. The message occupies ``size`` consecutive bytes of that direction's
stream, so its first byte has sequence number ``last - size + 1`` (modulo 2^32),
and the segments that carry it are the ones on that link, in that connection and
direction, whose byte ranges overlap it (first transmissions only: a retransmitted
copy repeats bytes already counted).

Sequence numbers are also shown relative to each direction's initial sequence
number (ISN, the ``seq`` of that side's SYN), as Wireshark does, so ``seq=1`` is
the first data byte of a connection whatever the random ISN was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lbsim.net.segment import SEQ_MASK
from lbsim.teach.messages import is_request, request_id_of
from lbsim.teach.trace import Trace

__all__ = [
    "LEGS",
    "Leg",
    "RequestPath",
    "cold_connect",
    "follow_request",
    "initial_sequence",
    "message_rows",
    "opener_first",
    "syn_row",
]

#: Leg names in path order, with (sender role, receiver role, carries the request).
LEGS = {
    "client_to_lb": (("client",), ("balancer",), True),
    "lb_to_backend": (("balancer",), ("backend",), True),
    "backend_to_lb": (("backend",), ("balancer", "router"), False),
    "lb_to_client": (("balancer", "router"), ("client",), False),
}


@dataclass(frozen=True)
class Leg:
    """One message (a request or its response) on one link.

    Attributes:
        name: One of :data:`LEGS`.
        link: Link name, ``SENDER>RECEIVER``.
        message: The engine's message value (as marked in the stream).
        rows: Segment rows (of ``trace.segments``) carrying its bytes, in
            sequence order; the first carries the message's first byte (for HTTP,
            the request or status line), the last its last byte.
        connection: The TCP connection on this link (``ip:port-ip:port``).
    """

    name: str
    link: str
    message: Any
    rows: tuple[int, ...]
    connection: str

    @property
    def first(self) -> int:
        """Row of the segment with the message's first byte."""
        return self.rows[0]

    @property
    def last(self) -> int:
        """Row of the segment with the message's last byte."""
        return self.rows[-1]


@dataclass(frozen=True)
class RequestPath:
    """The legs one request took.

    Attributes:
        request_id: The request.
        record: Its row of the requests table.
        legs: Leg name -> leg, only for the legs it took.
    """

    request_id: str
    record: pd.Series
    legs: dict[str, Leg]

    def __iter__(self) -> Iterator[Leg]:
        return iter(self.legs.values())

    def get(self, name: str) -> Leg | None:
        """The leg ``name``, or ``None`` if the request did not take it."""
        return self.legs.get(name)


def syn_row(
    trace: Trace, src: str, sport: int, connection: str, *, before: float | None = None
) -> int | None:
    """The row of the SYN (or SYN,ACK) ``src:sport`` sent to open ``connection``.

    Args:
        trace: The traced run.
        src: Sender's address.
        sport: Sender's port.
        connection: The connection (``ip:port-ip:port``) as named on the link.
        before: Use the last SYN sent at or before this time (a 4-tuple may be
            reused by a later connection); the first one when ``None``.

    Returns:
        The row, or ``None`` when the SYN is not in the trace (the connection was
        opened before tracing began).
    """
    seg = trace.segments
    mask = (
        (seg["connection"] == connection)
        & (seg["src"] == src)
        & (seg["sport"] == sport)
        & seg["flags"].isin(("SYN", "SYN,ACK"))
    )
    if before is not None:
        mask &= seg["time"] <= before
    rows = seg.index[mask]
    if len(rows) == 0:
        return None
    return int(rows[-1] if before is not None else rows[0])


def initial_sequence(
    trace: Trace, src: str, sport: int, connection: str, *, before: float | None = None
) -> int | None:
    """The ISN of one direction of a connection: the ``seq`` of its SYN (see :func:`syn_row`)."""
    row = syn_row(trace, src, sport, connection, before=before)
    return None if row is None else int(trace.cell(row, "seq"))


def opener_first(trace: Trace, connection: str) -> tuple[str, str]:
    """The two ends of a connection, the one that sent the SYN first (``ip:port`` each).

    Connection ids list the lower endpoint first (as in ``segments.csv``); a person
    reads "client -> server" more easily. Without a SYN in the trace the id's order
    is kept.
    """
    a, _, b = connection.partition("-")
    seg = trace.segments
    syn = seg[(seg["connection"] == connection) & (seg["flags"] == "SYN")]
    if not syn.empty and f"{syn['src'].iloc[0]}:{syn['sport'].iloc[0]}" == b:
        return b, a
    return a, b


def message_rows(trace: Trace, row: int, offset: int, size: int) -> tuple[int, ...]:
    """Rows of the first transmissions carrying a message whose last byte is in ``row``.

    Args:
        trace: The traced run.
        row: Segment row whose marks name the message.
        offset: The message's last byte, as marked (1-based within the segment).
        size: Bytes the message occupies in the stream.
    """
    seg = trace.segments
    mark = seg.iloc[row]
    last = (int(mark["seq"]) + offset - 1) & SEQ_MASK
    first = (last - size + 1) & SEQ_MASK
    same = seg[
        (seg["link"] == mark["link"])
        & (seg["connection"] == mark["connection"])
        & (seg["src"] == mark["src"])
        & (seg["sport"] == mark["sport"])
        & (seg["payload"] > 0)
        & ~seg["dropped"]
    ]
    rows: dict[int, int] = {}
    for index, seq, payload in zip(same.index, same["seq"], same["payload"], strict=True):
        start = int(seq)
        # Overlap of [start, start + payload) and [first, first + size), mod 2^32.
        if (start - first) & SEQ_MASK < size or (first - start) & SEQ_MASK < int(payload):
            rows.setdefault(start, int(index))
    ordered = sorted(rows.items(), key=lambda item: (item[0] - first) & SEQ_MASK)
    return tuple(index for _, index in ordered) or (row,)


def follow_request(trace: Trace, request_id: str) -> RequestPath:
    """Find the legs of ``request_id`` in a trace.

    Args:
        trace: A traced run (:func:`lbsim.teach.trace.trace_variant`).
        request_id: A request that finished while tracing.

    Returns:
        The request's path.

    Raises:
        KeyError: If the request is not in the trace.
    """
    record = trace.request(request_id)
    found: dict[str, Leg] = {}
    for row in sorted(trace.marks):
        if bool(trace.cell(row, "dropped")):
            continue
        for offset, message in trace.marks[row]:
            if request_id_of(message) != request_id:
                continue
            link = str(trace.cell(row, "link"))
            info = trace.links[link]
            sender, receiver = trace.role(info.sender), trace.role(info.receiver)
            for name, (senders, receivers, carries_request) in LEGS.items():
                if (
                    name not in found
                    and sender in senders
                    and receiver in receivers
                    and is_request(message) == carries_request
                ):
                    size = int(getattr(message, "size", 0)) or 1
                    found[name] = Leg(
                        name,
                        link,
                        message,
                        message_rows(trace, row, offset, size),
                        str(trace.cell(row, "connection")),
                    )
    legs = {name: found[name] for name in LEGS if name in found}
    return RequestPath(request_id, record, legs)


def cold_connect(trace: Trace, path: RequestPath) -> float | None:
    """When the balancer opened its backend connection for this request, if it had to.

    A proxy (L4 proxy mode, or L7) either reuses a connection it already had open
    (warm, pooled) or opens one because this client needs it (a cold connect, one
    more backend round trip). An L7 balancer records which in ``new_upstream``; for
    an L4 proxy, a backend connection opened after the client's SYN reached the
    balancer was opened for it.

    Returns:
        The time of the backend connection's SYN for a cold connect, ``None`` when
        the connection was already open (or there is no backend leg).
    """
    up, down = path.get("client_to_lb"), path.get("lb_to_backend")
    if up is None or down is None:
        return None
    sent = float(trace.cell(down.first, "time"))
    own = syn_row(
        trace,
        str(trace.cell(down.first, "src")),
        int(trace.cell(down.first, "sport")),
        down.connection,
        before=sent,
    )
    if own is None:
        return None  # opened before tracing began: certainly not for this request
    opened = float(trace.cell(own, "time"))
    flag = path.record.get("new_upstream")
    if isinstance(flag, bool | np.bool_):
        return opened if flag else None
    client = syn_row(
        trace,
        str(trace.cell(up.first, "src")),
        int(trace.cell(up.first, "sport")),
        up.connection,
        before=float(trace.cell(up.first, "time")),
    )
    if client is None:
        return None
    return opened if opened >= float(trace.cell(client, "arrival")) else None
