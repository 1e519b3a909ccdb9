"""The viewer's picture of a topology: every element placed, tiers boxed.

Theory of operation: on a star the page's script places the nodes itself (clients
left, backends right, the balancer between). A topology has more: sites, routers,
tiers of several instances, services and their backends, with links between
every pair of neighbouring elements. :func:`graph_layout` places them from the
networkx graph the scenario was checked on, with the columns of
``figures/topology.png`` (:func:`lbsim.plots.topology.layout`: client sites
first, then routers and tiers in the order requests cross them, services last):
the client hosts get a column before their sites, each tier's instances stand
one under the other in the tier's column, and the backends a column after their
services. Only client hosts that send or receive a packet in the page are drawn,
and past :data:`MAX_HOSTS` of them each site's others share one node (``users: +37
hosts``) that their packets start from and end at.
The result is part of the variant's model: ``nodes`` (name, role, what it is, its
address, its position), ``layout`` (the drawing's size and one box per tier, with
its name and balancer) -- the script draws it, and animates each event along its
link between the two elements' positions, highlighting the element it reaches.

:func:`element_roles` says which elements forward packets (routers, L4 NAT and
DSR instances) and which end TCP (L4 proxy and L7 instances), so the page can
pair each event with the one the element sent because of it
(:func:`lbsim.teach.viewer.relations.outgoing`).
"""

from __future__ import annotations

from typing import Any

from lbsim.scenario import Scenario
from lbsim.teach.tier_nodes import TierNode, topology_nodes

__all__ = ["MAX_HOSTS", "element_roles", "graph_columns", "graph_layout", "path_latency_bound"]

#: Horizontal distance between columns, and the node box size, in drawing units.
_COLUMN = 150
_NODE = (124, 34)
#: Vertical distance between the elements of a column.
_ROW = 46
#: Most client hosts drawn one by one; past it each site's others share one node.
MAX_HOSTS = 14
#: Least vertical distance between client hosts.
_HOST_ROW = 22
#: Space above the first row (tier labels) and below the last.
_TOP, _BOTTOM = 40, 16


def element_roles(scenario: Scenario, variant: str) -> tuple[set[str], set[str]]:
    """The elements that forward packets, and the tier instances that end TCP."""
    nodes = topology_nodes(scenario, variant)
    forwarders = {n.name for n in nodes.values() if n.forwards}
    terminators = {n.name for n in nodes.values() if n.role == "balancer" and not n.forwards}
    return forwarders, terminators


def path_latency_bound(scenario: Scenario) -> float:
    """An upper bound of a one-way trip's latency (seconds): every link of the topology once."""
    topo = scenario.topology
    assert topo is not None
    links = sum(link.latency for link in topo.links)
    access = max((s.access.latency for s in topo.sites), default=0.0)
    return links + access + scenario.network.backend_link.latency


def _columns(scenario: Scenario) -> tuple[dict[str, int], dict[str, float]]:
    """Column and vertical order of each graph node (columns of ``topology.png``)."""
    from lbsim.plots.topology import layout

    topo = scenario.topology
    assert topo is not None
    _, positions = layout(topo)
    xs = sorted({round(x, 6) for x, _ in positions.values()})
    column = {name: xs.index(round(x, 6)) + 1 for name, (x, _) in positions.items()}
    return column, {name: -y for name, (_, y) in positions.items()}


def graph_columns(scenario: Scenario) -> dict[str, int]:
    """The column of each graph node in ``figures/topology.png`` (1 = client sites)."""
    return _columns(scenario)[0]


def _fold_hosts(
    nodes: dict[str, TierNode], used: set[str], site_of: dict[str, str]
) -> dict[str, list[str]]:
    """Client hosts drawn as one node per site past :data:`MAX_HOSTS` in all.

    Returns:
        Folded node name (``<site>: +N hosts``) -> the hosts it stands for, and
        under ``""`` every folded host (empty when all hosts are drawn).
    """
    by_site: dict[str, list[str]] = {}
    for node in nodes.values():
        if node.role == "client" and node.name in used:
            by_site.setdefault(site_of[node.node], []).append(node.name)
    if sum(len(v) for v in by_site.values()) <= MAX_HOSTS:
        return {}
    keep = max(1, MAX_HOSTS // len(by_site) - 1)
    folded: dict[str, list[str]] = {"": []}
    for site, hosts in by_site.items():
        rest = hosts[keep:]
        if rest:
            folded[f"{site}: +{len(rest)} hosts"] = rest
            folded[""].extend(rest)
    return folded


def graph_layout(
    scenario: Scenario, variant: str, used: set[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every drawn element with its position, and the drawing's size and tier boxes.

    Args:
        scenario: A scenario with ``topology:``.
        variant: The variant shown.
        used: Elements some event of the page goes from or to (client hosts
            outside it are left out).

    Returns:
        The nodes (JSON-able dicts) and the layout (``w``, ``h``, ``tiers``).
    """
    topo = scenario.topology
    assert topo is not None
    nodes = topology_nodes(scenario, variant)
    column, order = _columns(scenario)
    site_of = {g: s.name for s in topo.sites for g in s.clients}
    service_of = {g: v.name for v in topo.services for g in v.groups}
    last = max(column.values()) + 1
    place: dict[int, list[tuple[float, int, TierNode]]] = {}
    folds = _fold_hosts(nodes, used, site_of)
    for k, node in enumerate(nodes.values()):
        if node.role == "client":
            if node.name not in used or node.name in folds.get("", ()):
                continue
            col, rank = 0, order[site_of[node.node]]
        elif node.role == "backend":
            col, rank = last, order[service_of[node.node]]
        else:
            col, rank = column[node.node], order[node.node]
        place.setdefault(col, []).append((rank, k, node))
    for k, (name, hosts) in enumerate(folds.items(), start=len(nodes)):
        if name:
            site = name.split(": ")[0]
            text = f"{len(hosts)} more client hosts: {', '.join(hosts)}"
            fold = TierNode(name, "client", site, text, f"{len(hosts)} more hosts")
            place.setdefault(0, []).append((order[site], k, fold))
    # Client hosts may be many: their column packs them closer (names only).
    rows = max((len(v) for c, v in place.items() if c > 0), default=1)
    height = _TOP + _BOTTOM + max(rows * _ROW, len(place.get(0, ())) * _HOST_ROW)
    width = (last + 1) * _COLUMN
    out: list[dict[str, Any]] = []
    where: dict[str, tuple[float, float]] = {}
    for col in sorted(place):
        column_nodes = sorted(place[col], key=lambda item: (item[0], item[1]))
        gap = (height - _TOP - _BOTTOM) / len(column_nodes)
        for r, (_, _, node) in enumerate(column_nodes):
            x, y = col * _COLUMN + _COLUMN / 2, _TOP + gap * (r + 0.5)
            where[node.name] = (x, y)
            item: dict[str, Any] = {
                "name": node.name,
                "role": node.role,
                "ip": node.ip or node.text,
                "x": round(x, 1),
                "y": round(y, 1),
                "text": node.text,
            }
            if gap - 4 < _NODE[1]:
                item["h"] = round(gap - 4, 1)
            if node.name in folds:
                item["members"] = folds[node.name]
            if node.kind:
                item["kind"] = node.kind
            out.append(item)
    boxes = []
    for tier in topo.tiers:
        members = [where[f"{tier.name}-{i}"] for i in range(1, tier.instances + 1)]
        first = nodes[f"{tier.name}-1"]
        top = min(y for _, y in members) - _NODE[1] / 2 - 34
        bottom = max(y for _, y in members) + _NODE[1] / 2 + 6
        boxes.append(
            {
                "name": tier.name,
                "label": [
                    f"tier {tier.name}",
                    first.text.split(": ", 1)[1].split(";")[0]
                    + (" \u00b7 variant" if first.variant else ""),
                ],
                "variant": first.variant,
                "x": round(members[0][0] - _NODE[0] / 2 - 8, 1),
                "y": round(top, 1),
                "w": _NODE[0] + 16,
                "h": round(bottom - top, 1),
            }
        )
    return out, {"w": width, "h": height, "node": list(_NODE), "tiers": boxes}
