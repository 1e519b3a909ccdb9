"""A whole connection, SYN to FIN, as text: every segment and every device decision.

Theory of operation: the per-hop view (:mod:`lbsim.teach.layerview`) follows one
request's first segments. A lecturer also wants the rest: the SYN, where an L4
balancer creates its table entry and clamps the MSS, each request and response,
and the closing FINs. :func:`connection_text` lists, in order of send time, every
traced segment of the request's client connection that involves the client's
address and port: on both sides of an L4 NAT or DSR balancer (which keeps the
client's address and port), on the client side of an L7 balancer or L4 proxy
(whose backend side is a connection of its own, named in its decisions). Under the
segment during whose arrival a device decided something, the decision's sentence
(:mod:`lbsim.teach.sentences`) says what and why; decisions are attached as the
packet viewer attaches them (:func:`lbsim.teach.viewer.relations.attach_decisions`).
On a topology, :func:`tier_connection_text` lists every TCP connection the request
crossed (the client's and each terminating tier's own) on every link.
"""

from __future__ import annotations

from typing import Any

from lbsim.net.segment import SEQ_MASK
from lbsim.records import SegmentRecord
from lbsim.teach.follow import follow_request
from lbsim.teach.labels import message_tag, segment_label
from lbsim.teach.messages import is_request, request_id_of
from lbsim.teach.sentences import sentence
from lbsim.teach.trace import Trace
from lbsim.teach.viewer.relations import attach_decisions

__all__ = ["connection_text", "tier_connection_text"]

_FIELDS = SegmentRecord.__slots__


def connection_text(trace: Trace, request_id: str) -> str:
    """Every segment of ``request_id``'s client connection, with the decisions taken.

    Args:
        trace: A traced run that went on until the connection closed.
        request_id: A request the trace finished.

    Returns:
        The listing (one line per segment, one per decision).

    Raises:
        KeyError: If the request is not in the trace.
    """
    trace.request(request_id)  # KeyError if it is not in the trace
    seg = trace.segments
    client = _client_endpoint(trace, request_id)
    ip, _, port = client.rpartition(":")
    mine = seg[
        ((seg["src"] == ip) & (seg["sport"] == int(port)))
        | ((seg["dst"] == ip) & (seg["dport"] == int(port)))
    ]
    return _listing(trace, mine, f"Whole connection of {request_id}: client {client}")


def tier_connection_text(trace: Trace, request_id: str) -> str:
    """On a topology: every segment of every TCP connection the request crossed.

    The connections are those of :func:`lbsim.teach.tier_trace.tier_path` (the
    client's, and each terminating tier's own), on every link they crossed.

    Raises:
        KeyError: If the request is not in the trace.
    """
    from lbsim.teach.tier_trace import tier_path

    steps = tier_path(trace, request_id)
    seg = trace.segments
    mine = seg[seg["connection"].isin({s.connection for s in steps})]
    count = len({s.number for s in steps})
    return _listing(
        trace,
        mine,
        f"Whole connections of {request_id}: {count} TCP connection{'s' if count != 1 else ''}"
        " on every link",
    )


def _listing(trace: Trace, mine: Any, heading: str) -> str:
    """The segments ``mine`` (rows of ``trace.segments``) in order of send time, with decisions."""
    mine = mine.sort_values("time", kind="stable")
    rows: list[tuple[int, SegmentRecord, Any]] = []
    ends: list[list[tuple[str, bool]]] = []
    for index, values in zip(mine.index.tolist(), mine.to_dict("records"), strict=True):
        rec = SegmentRecord(**{name: values[name] for name in _FIELDS})
        rows.append((int(index), rec, None))
        ends.append(
            [
                (rid, is_request(m))
                for _, m in trace.marks.get(int(index), ())
                if (rid := request_id_of(m)) is not None
            ]
        )
    arrival = trace.segments["arrival"].tolist()
    chosen, attached = attach_decisions(list(trace.decisions), rows, ends, arrival)
    lines = [
        f"{heading}, {len(rows)} segments "
        f"({'SYN to FIN' if _closed(rows) else 'still open when tracing stopped'})",
        "  time (ms)  link                      segment",
    ]
    isn: dict[tuple[str, str, int], int] = {}
    for i, (row, rec, _) in enumerate(rows):
        if "SYN" in rec.flags:
            isn[(rec.connection, rec.src, rec.sport)] = rec.seq
        base = isn.get((rec.connection, rec.src, rec.sport))
        peer = isn.get((rec.connection, rec.dst, rec.dport))
        label = segment_label(
            rec.flags,
            None if base is None else (rec.seq - base) & SEQ_MASK,
            rec.seq,
            None if peer is None else (rec.ack - peer) & SEQ_MASK,
            rec.ack,
            rec.payload,
        ) + message_tag(trace, row)
        dropped = "  DROPPED" if rec.dropped else ""
        lines.append(f"  {rec.time * 1000:9.3f}  {rec.link:24}  {label}{dropped}")
        for k in attached.get(i, []):
            d = chosen[k]
            lines.append(f"{'':13}-> {d.device}: {sentence(d)}")
    return "\n".join(lines) + "\n"


def _client_endpoint(trace: Trace, request_id: str) -> str:
    """The client's ``ip:port`` of the request's connection (from its first segment)."""
    leg = follow_request(trace, request_id).get("client_to_lb")
    if leg is None:
        raise KeyError(f"request {request_id} never reached the balancer")
    return f"{trace.cell(leg.first, 'src')}:{int(trace.cell(leg.first, 'sport'))}"


def _closed(rows: list[tuple[int, SegmentRecord, Any]]) -> bool:
    return any("FIN" in rec.flags or "RST" in rec.flags for _, rec, _ in rows)
