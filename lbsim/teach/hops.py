"""The per-hop layer view as values: hops, their field rows, and a text rendering.

Theory of operation: a :class:`LayerView` is what :func:`lbsim.teach.layerview.layer_view`
builds for one request: a tuple of :class:`Hop` values in path order (client,
balancer, backend, balancer or router, client). Each hop holds the headers of the
segment that came into the component and of the one that left it
(:class:`SegmentHeaders`), one :class:`FieldRow` per header field with what the
component did to it, the component's declared layer roles (concept C3) and the
layers the trace shows it rewrote or terminated. The view renders itself as
DataFrames (:meth:`LayerView.summary`, :meth:`LayerView.frame`) and as the plain
text ``lbsim trace`` prints (:meth:`LayerView.to_text`). Nothing here reads a trace.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lbsim.teach.layers import ComponentLayers, component_layers, layer_span
from lbsim.teach.messages import MessageText

__all__ = ["FieldRow", "Hop", "LayerView", "SegmentHeaders", "cell_text"]

#: Widest cell of the text rendering before it is shortened with "…".
_CELL = 46


@dataclass(frozen=True, slots=True)
class SegmentHeaders:
    """The header fields of one traced segment, with its message and timing.

    Attributes:
        row: Row in ``trace.segments``.
        link: Link it was sent on.
        sent: When it started onto the wire, seconds.
        arrival: When it reached the far end, seconds.
        src, dst: IPv4 addresses.
        sport, dport: TCP ports.
        seq, ack: Absolute sequence and acknowledgement numbers.
        rel_seq, rel_ack: The same relative to each direction's ISN (``None`` when
            the SYN is not in the trace).
        isn: The sender's initial sequence number on this connection.
        flags: TCP flags, e.g. ``PSH,ACK``.
        payload: Payload bytes.
        ip_length: IPv4 packet bytes.
        connection: The connection on this link.
        message: What the message of this leg shows at L7 and L6.
    """

    row: int
    link: str
    sent: float
    arrival: float
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    rel_seq: int | None
    rel_ack: int | None
    isn: int | None
    flags: str
    payload: int
    ip_length: int
    connection: str
    message: MessageText


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One header field at one hop.

    Attributes:
        layer: OSI layer number.
        field: Field name.
        action: What the component did with it.
        before: Value as the segment arrived ("" for the sender of a new message).
        after: Value as the segment left ("" for the final receiver).
    """

    layer: int
    field: str
    action: str
    before: str
    after: str


@dataclass(frozen=True)
class Hop:
    """One component in the request's path.

    Attributes:
        step: 1-based position along the path.
        node: Node name (``browsers-h0``, ``l4``, ``web-2``, ``router``).
        role: ``client``, ``balancer``, ``backend`` or ``router``.
        title: What happens at this hop, in words.
        declared: The component's layer roles (concept C3).
        inbound: Headers of the segment as it arrived (``None`` for the sender).
        outbound: Headers of the segment as it left (``None`` for the receiver).
        rewrote: Layers whose header fields the trace shows changed between
            ``inbound`` and ``outbound`` on the same TCP connection.
        terminated: Layers at which the trace shows a new session leaving: 4 when
            the outgoing segment belongs to another TCP connection, 6 when TLS
            ends (or is started afresh) here.
        rows: Field by field, layer by layer (highest layer first).
        note: Evidence or remarks in one or two sentences.
    """

    step: int
    node: str
    role: str
    title: str
    declared: ComponentLayers
    inbound: SegmentHeaders | None
    outbound: SegmentHeaders | None
    rewrote: tuple[int, ...]
    terminated: tuple[int, ...]
    rows: tuple[FieldRow, ...]
    note: str = ""

    @property
    def reads(self) -> tuple[int, ...]:
        """Layers this component reads (declared, concept C3)."""
        return self.declared.reads

    def actions(self, layer: int) -> list[str]:
        """The actions of this hop's rows at ``layer``."""
        return [r.action for r in self.rows if r.layer == layer]


@dataclass(frozen=True)
class LayerView:
    """The per-hop layer view of one request.

    Attributes:
        variant: Balancer variant.
        layer: 4 or 7.
        kind: Balancer kind (``l4-nat``, ``l4-proxy``, ``l4-dsr``, ``l7``).
        request_id: The request.
        record: Its row of the requests table.
        hops: The components along its path, in order.
        client_connection: The client-side TCP connection (``ip:port-ip:port``).
        backend_connection: The backend-side connection, ``None`` if no backend
            was reached.
        tls: TLS version if the request was protected by TLS (observed in the
            trace or configured for its client group), else ``None``.
        tls_observed: Whether the trace itself carries TLS records.
        handshake: The TLS handshake flights on the client connection before the
            request, e.g. ``client ClientHello 517 B`` (empty without TLS, or when
            the connection was already set up for an earlier request).
        endpoints: Connection -> its two ends, opener first (for display).
    """

    variant: str
    layer: int
    kind: str
    request_id: str
    record: pd.Series
    hops: tuple[Hop, ...]
    client_connection: str
    backend_connection: str | None
    tls: str | None = None
    tls_observed: bool = False
    handshake: tuple[str, ...] = ()
    endpoints: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[Hop]:
        return iter(self.hops)

    def hop(self, role: str, direction: str = "request") -> Hop:
        """The hop of the component with ``role`` on the request or response path.

        Args:
            role: ``client``, ``balancer``, ``backend`` or ``router``.
            direction: ``request`` (first occurrence) or ``response`` (last).

        Raises:
            KeyError: If no hop has that role.
        """
        hops = [h for h in self.hops if h.role == role]
        if not hops:
            raise KeyError(f"no {role} hop in the path of {self.request_id}")
        return hops[0] if direction == "request" else hops[-1]

    def frame(self) -> pd.DataFrame:
        """Every field row of every hop: ``step, node, layer, field, action, before, after``."""
        rows = [
            {
                "step": hop.step,
                "node": hop.node,
                "layer": f"L{row.layer}",
                "field": row.field,
                "action": row.action,
                "before": row.before,
                "after": row.after,
            }
            for hop in self.hops
            for row in hop.rows
        ]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per hop: what the component reads (C3) and what the trace shows it changed."""
        return pd.DataFrame(
            [
                {
                    "step": hop.step,
                    "node": hop.node,
                    "component": hop.declared.label,
                    "reads": layer_span(hop.reads),
                    "rewrote (seen)": layer_span(hop.rewrote),
                    "terminated (seen)": layer_span(hop.terminated),
                    "what happens": hop.title,
                }
                for hop in self.hops
            ]
        )

    def to_text(self) -> str:
        """The view as plain text: a heading, then one table per hop."""
        rec = self.record
        lines = [
            f"Request {self.request_id} through variant {self.variant} ({_kind_label(self.kind)})",
            f"  {rec['method']} {rec['path']} -> {cell_text(rec['backend']) or 'no backend'}, "
            f"status {cell_text(rec['status']) or '–'} ({rec['outcome']}), "
            f"latency {rec['latency'] * 1000:.3f} ms",
            f"  client-side connection:  {self._arrow(self.client_connection)}",
        ]
        if self.backend_connection is not None:
            balancer = self.hop("balancer")
            if 4 in balancer.terminated:
                remark = "a second TCP connection, opened by the balancer"
            elif 3 in balancer.rewrote:
                remark = "the same TCP connection, addresses rewritten"
            else:
                remark = "the same TCP connection, headers unchanged"
            lines.append(
                f"  backend-side connection: {self._arrow(self.backend_connection)}  ({remark})"
            )
        if self.tls is not None:
            lines.append(
                f"  TLS {self.tls}"
                + ("" if self.tls_observed else " configured (no TLS records in this trace)")
            )
        if self.handshake:
            lines.extend(
                textwrap.wrap(
                    "TLS handshake before the request: " + "; ".join(self.handshake),
                    96,
                    initial_indent="  ",
                    subsequent_indent="    ",
                )
            )
        for hop in self.hops:
            lines.append("")
            lines.append(f"{hop.step}. {hop.title}")
            lines.append(f"   {hop.declared.label}: {hop.declared.summary()}")
            seen = []
            if hop.rewrote:
                seen.append(f"rewrote {layer_span(hop.rewrote)}")
            if hop.terminated:
                seen.append(f"terminated {layer_span(hop.terminated)}")
            if hop.role in ("balancer", "router"):
                lines.append(f"   seen in the trace: {', '.join(seen) or 'changed no L3/L4 field'}")
            lines.extend(_table(hop))
            if hop.note:
                lines.extend(
                    textwrap.wrap(hop.note, 96, initial_indent="   ", subsequent_indent="   ")
                )
        return "\n".join(lines) + "\n"

    def _arrow(self, connection: str) -> str:
        a, b = self.endpoints.get(connection) or tuple(connection.partition("-")[::2])
        return f"{a} -> {b}"

    @property
    def backend_connection_same_tcp(self) -> bool:
        """Whether the backend side carries the client's own TCP connection (NAT, DSR)."""
        balancer = next((h for h in self.hops if h.role == "balancer"), None)
        return balancer is not None and 4 not in balancer.terminated


def _kind_label(kind: str) -> str:
    return component_layers(kind).label


def cell_text(value: Any) -> str:
    """A table value as text; ``""`` for a missing one (None, NaN, NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _short(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _table(hop: Hop) -> list[str]:
    header = ("layer", "field", "action", "before", "after")
    cells = [header] + [
        (f"L{r.layer}", r.field, r.action, _short(r.before) or "·", _short(r.after) or "·")
        for r in hop.rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "   "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
