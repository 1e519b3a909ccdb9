"""Ladder (sequence) diagrams of one request's connections: client | balancer | backend.

Theory of operation: a ladder diagram is how TCP is drawn in textbooks. Each node
is a vertical line (a *lifeline*), time flows down, and every segment is an arrow
from its sender's lifeline at the time it started onto the wire to its receiver's
lifeline at the time it arrived (the trace's ``arrival`` column: send time plus
serialisation at the link's bandwidth plus the link's latency). So the slope of an
arrow is the link's delay, and a horizontal gap between an arrow arriving at the
balancer and the next one leaving it is time the balancer held the bytes.

:func:`ladder_segments` (:mod:`lbsim.teach.ladder_select`) picks the segments of
the request's client-side and backend-side connections, at most ``max_segments``
of them, each labelled like a capture tool would (relative sequence numbers).

:func:`ladder_figure` draws them. Arrows are coloured by TCP connection as it
appears on the wire (its 4-tuple): through an L4 NAT balancer the arrows pass
straight through the balancer's lifeline, the backend-side half in another colour
because its addresses were rewritten, but with the *same* sequence numbers; through
an L7 balancer the two sides are two connections with their own handshakes and
numbering, and the upstream request starts only after the last client request
segment arrived (the shaded "held" bar on the balancer's lifeline).
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from lbsim.plots.style import OKABE_ITO, new_figure, styled
from lbsim.teach.follow import RequestPath, cold_connect, follow_request, opener_first
from lbsim.teach.labels import Label, merge_bursts, place_labels
from lbsim.teach.ladder_axis import TimeAxis, label_ladder_axes
from lbsim.teach.ladder_select import ladder_segments
from lbsim.teach.layers import balancer_kind, component_layers
from lbsim.teach.messages import tls_version
from lbsim.teach.trace import Trace

__all__ = ["CONNECTION_COLOURS", "SEGMENT_GID", "ladder_figure", "ladder_segments"]

#: ``gid`` of every arrow patch that stands for a segment (tests count them).
SEGMENT_GID = "segment"
#: Colours of successive connections (client side first).
CONNECTION_COLOURS = (
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish green"],
    OKABE_ITO["reddish purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky blue"],
)
_HELD_COLOUR = OKABE_ITO["orange"]


def _connection_legend(trace: Trace, path: RequestPath, connection: str, client_conn: str) -> str:
    """Legend text of one connection: its 4-tuple and how it relates to the client's."""
    a, b = opener_first(trace, connection)
    tuple_text = f"{a} → {b}"
    if connection == client_conn:
        return f"client side: {tuple_text}"
    seg = trace.segments
    client_leg = path.legs["client_to_lb"]
    src = str(trace.cell(client_leg.first, "src"))
    sport = int(trace.cell(client_leg.first, "sport"))
    syn_here = seg[(seg["connection"] == connection) & (seg["flags"] == "SYN")]
    syn_client = seg[(seg["connection"] == client_conn) & (seg["flags"] == "SYN")]
    same = (
        not syn_here.empty
        and not syn_client.empty
        and int(syn_here["seq"].iloc[-1]) == int(syn_client["seq"].iloc[-1])
        and str(syn_here["src"].iloc[-1]) == src
        and int(syn_here["sport"].iloc[-1]) == sport
    )
    if same:
        return f"backend side: {tuple_text}\n  (same TCP connection, same seq numbers; rewritten)"
    return f"backend side: {tuple_text}\n  (the balancer's own TCP connection)"


def _column_label(trace: Trace, role: str, node: str, tls: bool) -> str:
    kind = "client" if role == "client" else "backend" if role == "backend" else None
    if role == "balancer":
        layers = component_layers(balancer_kind(trace.balancer), tls=tls)
        return f"balancer {node}\n{layers.label}\n{layers.summary()}"
    if role == "router":
        return "router (gateway)\nrewrites MACs, TTL \u2212 1\n(direct server return)"
    assert kind is not None
    return f"{kind} {node}\nL1–L7"


def ladder_figure(
    trace: Trace,
    request_id: str,
    *,
    max_segments: int = 40,
    start: float | None = None,
    end: float | None = None,
    acks: bool = True,
    labels: bool = True,
) -> Figure:
    """Draw the ladder diagram of one request's connections.

    Args:
        trace: A traced run (:func:`lbsim.teach.trace.trace_variant`).
        request_id: The request to draw.
        max_segments: Draw at most this many segments (the earliest).
        start: First send time to include, seconds (see :func:`ladder_segments`).
        end: Last send time to include, seconds.
        acks: Include pure ACKs.
        labels: Write flags, seq/ack and length next to each arrow.

    Returns:
        The figure: one arrow patch (``gid`` :data:`SEGMENT_GID`) per segment,
        lifelines labelled with each component's layers, a legend of the TCP
        connections, and the time the balancer held the request shaded.
    """
    path = follow_request(trace, request_id)
    frame = ladder_segments(
        trace, request_id, max_segments=max_segments, start=start, end=end, acks=acks
    )
    client = trace.links[path.legs["client_to_lb"].link].sender
    backend = path.record["backend"]
    tls = any(tls_version(leg.message) is not None for leg in path)
    roles_present = ["client", "balancer"]
    if (frame["sender"] == "router").any() or (frame["receiver"] == "router").any():
        roles_present.append("router")
    if isinstance(backend, str):
        roles_present.append("backend")
    x_of = {role: float(i) for i, role in enumerate(roles_present)}
    names = {
        "client": client,
        "balancer": trace.balancer.name,
        "router": "router",
        "backend": backend if isinstance(backend, str) else "",
    }
    t0 = float(frame.attrs["start"])
    client_conn = path.legs["client_to_lb"].connection
    connections = list(dict.fromkeys([client_conn, *frame["connection"]]))
    colour = {c: CONNECTION_COLOURS[i % len(CONNECTION_COLOURS)] for i, c in enumerate(connections)}
    n = len(frame)
    height = min(14.0, max(4.8, 0.3 * n + 2.8))
    held = _held_interval(trace, path)
    instants = [(float(x) - t0) * 1000 for x in frame["time"]]
    instants += [(float(x) - t0) * 1000 for x in frame["arrival"] if x == x]
    if held is not None:
        instants += [(held[0] - t0) * 1000, (held[1] - t0) * 1000]
    # One label (about 9 points) per gap on the axes (about 72 % of the figure).
    axis = TimeAxis(instants, label_fraction=9.0 / (height * 72 * 0.72))
    span_ms = max(axis.span, 1e-3)
    with styled():
        fig = new_figure(height=height, width=8.0)
        ax = fig.add_subplot()
        ax.grid(False)
        for x in x_of.values():
            ax.axvline(x, color="#555555", lw=1.0, zorder=1)
        pending: list[Label] = []
        for item in frame.to_dict("records"):
            x0, x1 = x_of[str(item["sender"])], x_of[str(item["receiver"])]
            dropped = bool(item["dropped"])
            y0 = axis.y((float(item["time"]) - t0) * 1000)
            y1 = y0 + span_ms * 0.02 if dropped else axis.y((float(item["arrival"]) - t0) * 1000)
            c = colour[str(item["connection"])]
            if dropped:
                xm = x0 + (x1 - x0) * 0.5
                arrow = FancyArrowPatch(
                    (x0, y0),
                    (xm, y1),
                    arrowstyle="-",
                    lw=1.1,
                    color="#999999",
                    linestyle="--",
                    zorder=3,
                )
                ax.plot([xm], [y1], marker="x", color=OKABE_ITO["vermillion"], ms=7, zorder=4)
            else:
                arrow = FancyArrowPatch(
                    (x0, y0),
                    (x1, y1),
                    arrowstyle="-|>",
                    mutation_scale=9,
                    lw=1.2,
                    color=c,
                    shrinkA=0,
                    shrinkB=0,
                    zorder=3,
                )
            arrow.set_gid(SEGMENT_GID)
            ax.add_patch(arrow)
            if labels:
                pending.append((x0, y0, x1, y1, str(item["label"]), c, dropped))
        if labels:
            # Arrows that still crowd (one minimum gap apart) share one label.
            pending = merge_bursts(pending, frame, burst_ms=max(axis.gap * 1.01, span_ms * 0.012))
        handles: list[Any] = [
            Line2D(
                [],
                [],
                color=colour[c],
                lw=1.6,
                label=_connection_legend(trace, path, c, client_conn),
            )
            for c in connections
        ]
        if any("(+" in label[4] for label in pending):
            handles.append(
                Line2D(
                    [],
                    [],
                    lw=0,
                    label="(+N ACK): N pure ACKs sent in the same burst as the labelled "
                    "segments (drawn, not labelled)",
                )
            )
        if held is not None and "balancer" in x_of:
            h0, h1, text = held
            y_a, y_b = axis.y((h0 - t0) * 1000), axis.y((h1 - t0) * 1000)
            xb = x_of["balancer"]
            if y_b - y_a > span_ms * 0.004:
                ax.add_patch(
                    Rectangle(
                        (xb - 0.05, y_a),
                        0.1,
                        y_b - y_a,
                        color=_HELD_COLOUR,
                        alpha=0.45,
                        zorder=2,
                        lw=0,
                    )
                )
                handles.append(
                    Patch(
                        color=_HELD_COLOUR,
                        alpha=0.45,
                        label=f"request held at the balancer: {text}",
                    )
                )
            else:
                ax.plot([xb], [y_a], marker="o", color=_HELD_COLOUR, ms=6, zorder=4)
                handles.append(
                    Line2D(
                        [],
                        [],
                        marker="o",
                        color=_HELD_COLOUR,
                        lw=0,
                        label=f"request at the balancer: {text}",
                    )
                )
        ax.set_xlim(-0.35, len(x_of) - 1 + 0.35)
        last = axis.y((float(frame["arrival"].max()) - t0) * 1000) if n else span_ms
        bottom = max(last + span_ms * 0.03, 1e-3)
        ax.set_ylim(bottom, -span_ms * 0.03)
        ax.set_xticks(
            list(x_of.values()),
            [_column_label(trace, role, names[role], tls) for role in x_of],
            fontsize=8,
        )
        label_ladder_axes(ax, axis, t0, "component (and the OSI layers it works at)")
        total = int(frame.attrs["total"])
        shown = f"{n} segments" if n == total else f"first {n} of {total} segments"
        if n < total:
            ax.text(
                0.5,
                0.0,
                f"cut here: {total - n} more segments of this exchange are not drawn "
                f"(max_segments={max_segments}; lbsim trace --max-segments {total})",
                transform=ax.transAxes,
                ha="center",
                va="bottom",
                fontsize=7.5,
                color="#444444",
                bbox={"boxstyle": "round,pad=0.2", "fc": "#fff3cd", "ec": "#d4a017"},
                zorder=6,
            )
        kind = component_layers(balancer_kind(trace.balancer)).label
        fig.suptitle(f"{trace.variant} — {kind}: request {request_id}, {shown}", fontsize=10)
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.01),
            ncol=1,
            fontsize=7.5,
            frameon=False,
            title="TCP connections on the wire (4-tuples)",
            title_fontsize=8,
        )
        place_labels(fig, ax, pending)
    return fig


def _held_interval(trace: Trace, path: RequestPath) -> tuple[float, float, str] | None:
    """When the request's first byte reached the balancer and when it left it, and why."""
    up, down = path.get("client_to_lb"), path.get("lb_to_backend")
    if up is None or down is None:
        return None
    first_in = float(trace.cell(up.first, "arrival"))
    last_in = float(trace.cell(up.last, "arrival"))
    first_out = float(trace.cell(down.first, "time"))
    gap_ms = (first_out - first_in) * 1000
    kind = balancer_kind(trace.balancer)
    cold = ""
    if kind in ("l7", "l4-proxy") and cold_connect(trace, path) is not None:
        cold = ", then connected to the backend (cold connect)"
    if kind == "l7":
        return (
            first_in,
            first_out,
            f"{gap_ms:.2f} ms (buffered until its last byte arrived at "
            f"{last_in * 1000:.3f} ms, parsed{cold})",
        )
    if kind == "l4-proxy":
        return first_in, first_out, f"{gap_ms:.2f} ms (not read{cold})"
    if math.isclose(first_in, first_out, abs_tol=1e-9) or gap_ms < 0.001:
        return first_in, first_out, "forwarded the moment it arrived (cut-through)"
    return first_in, first_out, f"{gap_ms:.3f} ms (forwarded on arrival, after CPU work)"
