"""The ladder diagram of one request on a topology: one lifeline per element it crosses.

Theory of operation: on a star the ladder has three or four lifelines (client,
balancer, router, backend). On a topology the request crosses many elements, and
:func:`lbsim.teach.tier_trace.tier_path` already lists its *steps*: on each link,
the segments that carried the request (or its response). :func:`tier_ladder_figure`
draws exactly those segments, one arrow each, from the sender's lifeline at the
time it was sent to the receiver's at the time it arrived (the trace's ``arrival``
column), on the stretched time axis of the star's ladder
(:class:`lbsim.teach.ladder_axis.TimeAxis`) so fast links stay legible.

Lifelines are the elements the request and its response crossed (client host,
sites and routers, each tier instance, the service's router, the backend), in the
columns of ``figures/topology.png`` (:func:`lbsim.teach.viewer.tier_model` uses the
same): an element on the way back only (an L4 DSR tier's other instance) stands
beside the others of its tier. Arrows are coloured by the TCP connection they
belong to, numbered along the path as ``lbsim trace`` numbers them (a forwarding
element passes a connection on, a terminating tier opens the next), and labelled
like a capture (relative sequence numbers, the message each completes).
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from lbsim.net.segment import SEQ_MASK
from lbsim.plots.style import new_figure, styled
from lbsim.teach.labels import message_tag, place_labels, segment_label
from lbsim.teach.ladder import CONNECTION_COLOURS, SEGMENT_GID
from lbsim.teach.ladder_axis import TimeAxis, label_ladder_axes
from lbsim.teach.tier_nodes import node_of, topology_nodes
from lbsim.teach.tier_trace import Step, tier_path
from lbsim.teach.trace import Trace

__all__ = ["SEGMENT_GID", "tier_columns", "tier_ladder_figure"]


def tier_columns(trace: Trace, steps: list[Step]) -> list[str]:
    """The lifelines, left to right: every element of the steps, by graph column."""
    from lbsim.teach.viewer.tier_model import graph_columns

    nodes = topology_nodes(trace.scenario, trace.variant)
    column = graph_columns(trace.scenario)
    last = max(column.values()) + 1
    seen: list[str] = []
    for step in steps:
        for name in (step.sender, step.receiver):
            if name not in seen:
                seen.append(name)

    def key(item: tuple[int, str]) -> tuple[int, int]:
        k, name = item
        node = node_of(nodes, name)
        place = 0 if node.role == "client" else last if node.role == "backend" else None
        return (column.get(node.node, 0) if place is None else place, k)

    return [name for _, name in sorted(enumerate(seen), key=key)]


def _labels(trace: Trace, steps: list[Step]) -> dict[int, str]:
    """Each drawn row's label: flags, relative seq/ack, length, message completed."""
    seg = trace.segments
    conns = {s.connection for s in steps}
    syn = seg[seg["connection"].isin(conns) & seg["flags"].isin(("SYN", "SYN,ACK"))]
    isn: dict[tuple[str, str, int], int] = {}
    for conn, src, sport, seq in zip(
        syn["connection"], syn["src"], syn["sport"], syn["seq"], strict=True
    ):
        isn.setdefault((str(conn), str(src), int(sport)), int(seq))
    out: dict[int, str] = {}
    c = trace.cell
    for step in steps:
        for row in step.rows:
            src, sport = c(row, "src"), int(c(row, "sport"))
            dst, dport = c(row, "dst"), int(c(row, "dport"))
            mine = isn.get((step.connection, str(src), sport))
            peer = isn.get((step.connection, str(dst), dport))
            seq, ack = int(c(row, "seq")), int(c(row, "ack"))
            out[row] = segment_label(
                str(c(row, "flags")),
                None if mine is None else (seq - mine) & SEQ_MASK,
                seq,
                None if peer is None else (ack - peer) & SEQ_MASK,
                ack,
                int(c(row, "payload")),
            ) + message_tag(trace, row)
    return out


def _column_label(trace: Trace, name: str) -> str:
    node = node_of(topology_nodes(trace.scenario, trace.variant), name)
    if node.role == "balancer":
        kind = node.text.split(": ", 1)[1].split(";")[0]
        return f"{name}\n{kind}"
    return f"{name}\n{node.role}"


def tier_ladder_figure(trace: Trace, request_id: str, *, max_segments: int = 40) -> Figure:
    """Draw the ladder diagram of one request across a topology.

    Args:
        trace: A traced run of a scenario with ``topology:``.
        request_id: The request to draw.
        max_segments: Draw at most this many segments (the earliest sent).

    Returns:
        The figure: one arrow patch (``gid`` :data:`SEGMENT_GID`) per segment of
        the request's steps, one lifeline per element, a legend of the TCP connections.

    Raises:
        KeyError: If the request is not in the trace.
    """
    steps = tier_path(trace, request_id)
    columns = tier_columns(trace, steps)
    x_of = {name: float(i) for i, name in enumerate(columns)}
    c = trace.cell
    drawn = sorted(
        ((float(c(row, "time")), row, step) for step in steps for row in step.rows),
        key=lambda item: (item[0], item[1]),
    )
    total = len(drawn)
    drawn = drawn[:max_segments]
    labels = _labels(trace, steps)
    t0 = drawn[0][0]
    numbers = sorted({s.number for s in steps})
    colour = {n: CONNECTION_COLOURS[i % len(CONNECTION_COLOURS)] for i, n in enumerate(numbers)}
    height = min(16.0, max(5.0, 0.32 * len(drawn) + 3.2))
    width = min(16.0, max(8.0, 1.25 * len(columns) + 1.5))
    instants = [(t - t0) * 1000 for t, _, _ in drawn]
    instants += [(float(c(row, "arrival")) - t0) * 1000 for _, row, _ in drawn]
    axis = TimeAxis(instants, label_fraction=9.0 / (height * 72 * 0.7))
    span = max(axis.span, 1e-3)
    with styled():
        fig = new_figure(height=height, width=width)
        ax = fig.add_subplot()
        ax.grid(False)
        for x in x_of.values():
            ax.axvline(x, color="#555555", lw=1.0, zorder=1)
        pending = []
        for t, row, step in drawn:
            x0, x1 = x_of[step.sender], x_of[step.receiver]
            y0 = axis.y((t - t0) * 1000)
            y1 = axis.y((float(c(row, "arrival")) - t0) * 1000)
            col = colour[step.number]
            arrow = FancyArrowPatch(
                (x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=9, lw=1.2,
                color=col, shrinkA=0, shrinkB=0, zorder=3,
            )  # fmt: skip
            arrow.set_gid(SEGMENT_GID)
            ax.add_patch(arrow)
            pending.append((x0, y0, x1, y1, labels[row], col, False))
        handles: list[Any] = []
        for n in numbers:
            first = next(s for s in steps if s.number == n)
            a = f"{c(first.row, 'src')}:{int(c(first.row, 'sport'))}"
            b = f"{c(first.row, 'dst')}:{int(c(first.row, 'dport'))}"
            handles.append(Line2D([], [], color=colour[n], lw=1.6, label=f"#{n} {a} → {b}"))
        ax.set_xlim(-0.5, len(columns) - 0.5)
        bottom = max(axis.y((float(c(r, "arrival")) - t0) * 1000) for _, r, _ in drawn)
        ax.set_ylim(bottom + span * 0.03, -span * 0.03)
        ax.set_xticks(list(x_of.values()), [_column_label(trace, n) for n in columns], fontsize=7.5)
        label_ladder_axes(
            ax, axis, t0, "element the request crosses (tier instances named <tier>-<i>)"
        )
        shown = (
            f"{len(drawn)} segments"
            if len(drawn) == total
            else f"first {len(drawn)} of {total} segments (--max-segments)"
        )
        fig.suptitle(
            f"{trace.variant} on the topology of {trace.scenario.name}: request "
            f"{request_id}, {shown}",
            fontsize=10,
        )
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=1,
            fontsize=7.5, frameon=False, title="TCP connections (numbered as lbsim trace does)",
            title_fontsize=8,
        )  # fmt: skip
        place_labels(fig, ax, pending)
    return fig
