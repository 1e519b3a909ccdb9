"""Figure ``topology.png``: the scenario's topology, requests flowing left to right.

Theory of operation: the figure is drawn from ``results.topology`` (the
scenario's ``topology:``, or its star when it has none), through the same
networkx graph the scenario was checked on
(:func:`lbsim.scenario.topology_graph.build_graph`). Nodes sit in columns by the
order requests cross them: client sites, the routers in front of the first tier,
each tier, the routers after it, and the services. A tier is a box holding one
small square per instance, labelled with how clients reach its instances (ECMP,
DNS, VIP) or, for a later tier, that the tier in front balances over them; the
tier where each variant's balancer sits is marked ``variant``. Each link is an
arrow in the direction of requests, labelled with its one-way latency and
bandwidth; a site is labelled with its client groups and access link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.patches import FancyArrowPatch, Rectangle

from lbsim.plots.style import FIGSIZE, OKABE_ITO, new_figure, styled
from lbsim.scenario.topology_graph import build_graph
from lbsim.scenario.units import format_bandwidth, format_duration

if TYPE_CHECKING:
    import networkx as nx
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lbsim.results import Results
    from lbsim.scenario.topology import TopologyConfig

__all__ = ["FILENAME", "layout", "topology"]

#: Bandwidth from which a zero-latency edge is the star's drawing-only hop.
STAR_HOP = 1e12

FILENAME = "topology.png"

_COLOURS = {
    "site": OKABE_ITO["sky blue"],
    "router": OKABE_ITO["yellow"],
    "tier": OKABE_ITO["bluish green"],
    "service": OKABE_ITO["orange"],
}
_REACH = {"ecmp": "via ECMP (5-tuple)", "dns": "via DNS round robin", "vip": "via one VIP"}
_BOX = (1.1, 0.55)  # width, height of a node box in data units
_BOTTOM, _TOP = 1.1, 0.75  # room below the lowest and above the highest box (data units)
_ROW = 1.6  # vertical distance between nodes of one column


def _column(graph: nx.DiGraph, name: str, columns: dict[str, int], topo: TopologyConfig) -> int:
    """Column of a node: sites 0, then routers/tiers by hops, services last."""
    import networkx as nx

    kind = graph.nodes[name]["kind"]
    if kind == "site":
        return 0
    if kind == "tier":
        return columns[name]
    starts = [s.name for s in topo.sites]
    depth = max(
        (nx.shortest_path_length(graph, s, name) for s in starts if nx.has_path(graph, s, name)),
        default=1,
    )
    return depth


def layout(topo: TopologyConfig) -> tuple[nx.DiGraph, dict[str, tuple[float, float]]]:
    """The graph and a position (x, y) per node, columns in request order."""
    import networkx as nx

    graph = build_graph(topo)
    columns: dict[str, int] = {}
    depth = nx.dag_longest_path_length(graph) if nx.is_directed_acyclic_graph(graph) else 3
    for tier in topo.tiers:
        longest = max(
            (
                len(path) - 1
                for s in topo.sites
                for path in nx.all_simple_paths(graph, s.name, tier.name, cutoff=depth)
            ),
            default=1,
        )
        columns[tier.name] = longest
    x_of = {n: _column(graph, n, columns, topo) for n in graph.nodes}
    last = max(x_of.values()) + 1
    for service in topo.services:
        x_of[service.name] = max(x_of[service.name], last - 1)
    by_column: dict[int, list[str]] = {}
    for name in graph.nodes:
        by_column.setdefault(x_of[name], []).append(name)
    positions: dict[str, tuple[float, float]] = {}
    for x, names in by_column.items():
        for row, name in enumerate(names):
            positions[name] = (x * 2.6, ((len(names) - 1) / 2 - row) * _ROW)
    return graph, positions


def _node(ax: Axes, graph: nx.DiGraph, name: str, xy: tuple[float, float]) -> None:
    data = graph.nodes[name]
    w, h = _BOX
    x, y = xy
    ax.add_patch(
        Rectangle(
            (x - w / 2, y - h / 2),
            w,
            h,
            facecolor=_COLOURS[data["kind"]],
            alpha=0.35,
            edgecolor="0.2",
            linewidth=1.2,
        )
    )
    if data["kind"] == "tier":
        n = data["instances"]
        size = min(0.16, (w - 0.1) / max(n, 1) - 0.04)
        for i in range(n):
            left = x - (n * (size + 0.04)) / 2 + i * (size + 0.04) + 0.02
            ax.add_patch(
                Rectangle(
                    (left, y - h / 2 + 0.06),
                    size,
                    size,
                    facecolor=_COLOURS["tier"],
                    edgecolor="0.2",
                    linewidth=0.8,
                )
            )
        reach = _REACH.get(data["reach"], "fed by the tier\nin front")
        note = f"{n} instance{'s' if n != 1 else ''}" + ("\n(variant)" if data["variant"] else "")
        # The name sits above the box, clear of its border and of the instance squares.
        ax.text(x, y + h / 2 + 0.04, name, ha="center", va="bottom", fontsize=9, weight="bold")
        ax.text(x, y - h / 2 - 0.1, f"{note}\n{reach}", ha="center", va="top", fontsize=7.5)
        return
    ax.text(x, y, name, ha="center", va="center", fontsize=9, weight="bold")


def _edge(ax: Axes, graph: nx.DiGraph, a: str, b: str, pos: dict[str, tuple[float, float]]) -> None:
    (x0, y0), (x1, y1) = pos[a], pos[b]
    w = _BOX[0] / 2
    arrow = FancyArrowPatch(
        (x0 + w, y0), (x1 - w, y1), arrowstyle="-|>", mutation_scale=12, color="0.25", linewidth=1.1
    )
    ax.add_patch(arrow)
    data = graph.edges[a, b]
    if data["latency"] == 0 and data["bandwidth"] >= STAR_HOP:
        return  # the star's site-to-balancer hop: the access link already ends there
    label = f"{format_duration(data['latency'])}\n{format_bandwidth(data['bandwidth'])}"
    ax.text(
        (x0 + x1) / 2 + 0.05 * (x1 - x0 > 0),
        (y0 + y1) / 2 + 0.05,
        label,
        ha="center",
        va="bottom",
        fontsize=7,
        color="0.2",
    )


def topology(results: Results) -> Figure:
    """The topology of ``results``' scenario (see the module docstring)."""
    topo = results.topology
    with styled():
        if topo is not None:
            graph, pos = layout(topo)
            xs = [p[0] for p in pos.values()]
            ys = [p[1] for p in pos.values()]
            # Equal aspect: the drawing's height follows its width; 1.4 in for the
            # title, the legend and the axis label.
            span_x = max(xs) - min(xs) + 2.0
            span_y = max(ys) - min(ys) + _BOTTOM + _TOP
            height = min(9.0, max(2.8, 1.4 + FIGSIZE[0] * span_y / span_x))
        else:
            height = FIGSIZE[1]
        fig = new_figure(height=height)
        ax = fig.add_subplot()
        if topo is None:
            ax.text(
                0.5,
                0.5,
                "no topology recorded with these results",
                ha="center",
                transform=ax.transAxes,
            )
            ax.set_axis_off()
            return fig
        for a, b in graph.edges:
            _edge(ax, graph, a, b, pos)
        for name, xy in pos.items():
            _node(ax, graph, name, xy)
        for site in topo.sites:
            x, y = pos[site.name]
            access = site.access
            ax.text(
                x,
                y - _BOX[1] / 2 - 0.1,
                f"clients: {', '.join(site.clients)}\naccess {format_duration(access.latency)}, "
                f"{format_bandwidth(access.bandwidth)}",
                ha="center",
                va="top",
                fontsize=7.5,
            )
        ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
        ax.set_ylim(min(ys) - _BOTTOM, max(ys) + _TOP)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel("requests flow left to right →  (replies return over the same links)")
        handles = [
            Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.35, edgecolor="0.2")
            for c in _COLOURS.values()
        ]
        # Outside the axes, at the bottom (constrained layout makes room): inside,
        # it would cover the topmost link labels and tier names of a one-row topology.
        fig.legend(
            handles,
            ["client site", "router", "balancer tier", "service (backend groups)"],
            loc="outside lower center",
            ncols=4,
            fontsize=8,
            frameon=False,
        )
        fig.suptitle(
            f"{results.scenario}: topology (arrows: request direction; "
            "labels: one-way latency, bandwidth)",
            fontsize=10,
        )
    return fig
