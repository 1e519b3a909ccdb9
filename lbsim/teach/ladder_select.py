"""The segments a ladder diagram draws: one request's exchange, numbered like a capture.

Theory of operation: :func:`ladder_segments` picks, from a traced run, the segments
of the request's client-side connection and of the backend-side connection(s) that
carried it (found with :func:`lbsim.teach.follow.follow_request`), on the links
between the nodes of its path. The window opens at the client connection's SYN if
the request opened it, else when the request was issued, and it closes before the
next request of a keep-alive connection; on an L7 balancer's pooled upstream
connection only the span from this request's first byte out (or the SYN opened for
it) to its response's arrival is kept, as other clients' requests share it. Each
segment is labelled like a capture tool would: flags, sequence and acknowledgement
numbers relative to that direction's initial sequence number (the ISN, read from
the SYN that opened the connection most recently before the segment, so the first
data byte is ``seq=1``), and the payload length. :mod:`lbsim.teach.ladder` draws
the rows.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from lbsim.net.segment import SEQ_MASK
from lbsim.teach.follow import RequestPath, follow_request, syn_row
from lbsim.teach.labels import message_tag, segment_label
from lbsim.teach.layers import balancer_kind
from lbsim.teach.trace import Trace

__all__ = ["ladder_segments"]


def _isn_table(trace: Trace, connections: list[str]) -> dict[tuple[str, str, int], list[Any]]:
    """(connection, src, sport) -> [(time, isn), ...] of the SYNs that opened it."""
    seg = trace.segments
    syn = seg[seg["connection"].isin(connections) & seg["flags"].isin(("SYN", "SYN,ACK"))]
    table: dict[tuple[str, str, int], list[Any]] = {}
    for conn, src, sport, t, seq in zip(
        syn["connection"], syn["src"], syn["sport"], syn["time"], syn["seq"], strict=True
    ):
        table.setdefault((str(conn), str(src), int(sport)), []).append((float(t), int(seq)))
    return table


def _isn_at(
    table: dict[tuple[str, str, int], list[Any]], key: tuple[str, str, int], t: float
) -> int | None:
    found = None
    for when, isn in table.get(key, ()):
        if when <= t:
            found = isn
    return found


def _window_start(trace: Trace, path: RequestPath) -> float:
    """Default first instant: the client connection's SYN, or the request's issue time."""
    record = path.record
    up = path.legs["client_to_lb"]
    if int(record["index_on_connection"]) == 0:
        seg = trace.segments
        mask = (
            (seg["connection"] == up.connection)
            & (seg["link"] == up.link)
            & (seg["flags"] == "SYN")
            & (seg["time"] <= float(trace.cell(up.first, "time")))
        )
        syns = seg.loc[mask, "time"]
        if not syns.empty:
            return float(syns.iloc[-1])
    return float(record["t_start"])


def ladder_segments(
    trace: Trace,
    request_id: str,
    *,
    max_segments: int = 40,
    start: float | None = None,
    end: float | None = None,
    acks: bool = True,
) -> pd.DataFrame:
    """The segments a ladder diagram of ``request_id`` draws, one row per arrow.

    Args:
        trace: A traced run (:func:`lbsim.teach.trace.trace_variant`).
        request_id: The request whose connections to draw.
        max_segments: Draw at most this many (the earliest ones).
        start: First send time to include, seconds (default: the client
            connection's SYN if this request opened it, else the request's issue
            time).
        end: Last send time to include, seconds (default: until the next
            request on the same client connection is issued; on a pooled L7
            upstream connection, until the response has reached the balancer).
        acks: Include segments without payload, SYN or FIN (pure ACKs).

    Returns:
        Columns ``row`` (in ``trace.segments``), ``time``, ``arrival``, ``link``,
        ``sender``, ``receiver`` (node roles), ``connection``, ``flags``,
        ``payload``, ``rel_seq``, ``rel_ack``, ``dropped`` and ``label``, in send
        order. ``attrs["total"]`` holds how many segments the window had before
        ``max_segments`` cut it.
    """
    path = follow_request(trace, request_id)
    if "client_to_lb" not in path.legs:
        raise KeyError(f"request {request_id} never reached the balancer in this trace")
    connections = list(dict.fromkeys(leg.connection for leg in path))
    client = trace.links[path.legs["client_to_lb"].link].sender
    backend = path.record["backend"]
    nodes = {client, trace.balancer.name, "router"}  # DSR replies come from the router
    if isinstance(backend, str):
        nodes.add(backend)
    seg = trace.segments
    t0 = _window_start(trace, path) if start is None else start
    allowed = [
        name
        for name, info in trace.links.items()
        if info.sender in nodes and info.receiver in nodes
    ]
    mask = seg["connection"].isin(connections) & seg["link"].isin(allowed) & (seg["time"] >= t0)
    mask &= _own_traffic(trace, path, t0)
    if end is not None:
        mask &= seg["time"] <= end
    if not acks:
        mask &= (seg["payload"] > 0) | seg["flags"].str.contains("SYN|FIN|RST", regex=True)
    chosen = seg[mask]
    total = len(chosen)
    chosen = chosen.iloc[:max_segments]
    isns = _isn_table(trace, connections)
    rows = []
    for index, s in zip(chosen.index.tolist(), chosen.to_dict("records"), strict=True):
        t = float(s["time"])
        conn, src, dst = str(s["connection"]), str(s["src"]), str(s["dst"])
        isn = _isn_at(isns, (conn, src, int(s["sport"])), t)
        peer = _isn_at(isns, (conn, dst, int(s["dport"])), t)
        seq, ack = int(s["seq"]), int(s["ack"])
        rel_seq = None if isn is None else (seq - isn) & SEQ_MASK
        rel_ack = None if peer is None else (ack - peer) & SEQ_MASK
        flags = str(s["flags"])
        rows.append(
            {
                "row": int(index),
                "time": t,
                "arrival": float(s["arrival"]),
                "link": str(s["link"]),
                "sender": trace.role(trace.links[str(s["link"])].sender),
                "receiver": trace.role(trace.links[str(s["link"])].receiver),
                "connection": conn,
                "flags": flags,
                "payload": int(s["payload"]),
                "rel_seq": rel_seq,
                "rel_ack": rel_ack if "ACK" in flags else None,
                "dropped": bool(s["dropped"]),
                "label": segment_label(flags, rel_seq, seq, rel_ack, ack, int(s["payload"]))
                + message_tag(trace, int(index)),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "row",
            "time",
            "arrival",
            "link",
            "sender",
            "receiver",
            "connection",
            "flags",
            "payload",
            "rel_seq",
            "rel_ack",
            "dropped",
            "label",
        ],
    )
    frame.attrs["total"] = total
    frame.attrs["start"] = t0
    return frame


def _own_traffic(trace: Trace, path: RequestPath, t0: float) -> pd.Series:
    """Rows that belong to this request's exchange, not to its neighbours'.

    A keep-alive client connection carries the next request after this one, and an
    L7 balancer's pooled upstream connection carries other clients' requests
    before and after it; both are cut off by time.
    """
    seg = trace.segments
    record = path.record
    client_conn = path.legs["client_to_lb"].connection
    same_connection = trace.requests[
        (trace.requests["connection"] == record["connection"])
        & (trace.requests["index_on_connection"] > int(record["index_on_connection"]))
    ]
    client_end = float(same_connection["t_start"].min()) if not same_connection.empty else math.inf
    keep = seg["connection"] == client_conn
    keep &= seg["time"] < client_end
    shared_upstream = balancer_kind(trace.balancer) == "l7"
    for leg in path:
        if leg.connection == client_conn:
            continue
        on_leg = seg["connection"] == leg.connection
        if not shared_upstream:
            keep |= on_leg & (seg["time"] < client_end)
            continue
        out = path.get("lb_to_backend")
        back = path.get("backend_to_lb")
        if out is None:
            continue
        first_out = float(trace.cell(out.first, "time"))
        syn = syn_row(
            trace,
            str(trace.cell(out.first, "src")),
            int(trace.cell(out.first, "sport")),
            leg.connection,
            before=first_out,
        )
        begin = first_out
        if syn is not None and float(trace.cell(syn, "time")) >= t0:
            begin = float(trace.cell(syn, "time"))  # opened for this request: show it
        finish = float(trace.cell(back.last, "arrival")) if back is not None else first_out
        keep |= on_leg & (seg["time"] >= begin) & (seg["time"] <= finish + 1e-9)
    return keep
