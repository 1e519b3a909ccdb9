"""A scenario's topology as a networkx graph: built, checked, walked.

Theory of operation:
    :func:`build_graph` turns a :class:`~lbsim.scenario.topology.TopologyConfig`
    into a :class:`networkx.DiGraph`: one node per site, router, tier and service
    (attribute ``kind``; a tier also carries ``instances``, ``reach`` and its
    position ``tier``), one edge per link in the direction requests travel
    (attributes: the link's settings and ``index``, its position under ``links``).

    :func:`check_topology` checks the graph against the rest of the scenario and
    raises :class:`~lbsim.scenario.errors.KeyedValueError` with the key path of the
    first violation (so ``lbsim check`` and ``lbsim run`` exit 2 naming it):

    * every site's client groups exist, and each client group is in one site;
    * every service's backend groups exist; inline tier balancers are valid
      balancer entries;
    * requests only leave sites and only arrive at services;
    * the graph is connected;
    * no forwarding loop (the directed graph is acyclic);
    * every site reaches the first tier, each tier the next, the last tier every
      service -- through routers only, since a request crosses every tier in order;
    * an ``ecmp`` tier has a router in front of it (ECMP hashes at a router).

    :func:`forwarding_path` and :func:`path_latency` give the nodes a request
    crosses between two nodes and the sum of the links' one-way latencies, so a
    run takes paths and per-hop latencies from the graph, not from a fixed star.
    networkx is imported only when a scenario has a topology.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.instance_faults import check_instance_events
from lbsim.scenario.topology import VARIANT, TierConfig, TopologyConfig

if TYPE_CHECKING:
    import networkx as nx

    from lbsim.scenario.schema import BalancerConfig, Scenario

__all__ = [
    "build_graph",
    "check_topology",
    "forwarding_path",
    "inline_balancer",
    "path_latency",
]

#: The sections of ``topology:`` that hold nodes, with the kind of node each holds.
NODE_SECTIONS: tuple[tuple[str, str], ...] = (
    ("sites", "site"),
    ("routers", "router"),
    ("tiers", "tier"),
    ("services", "service"),
)


def build_graph(topo: TopologyConfig) -> nx.DiGraph:
    """The topology as a directed graph (see the module docstring)."""
    import networkx as nx

    graph = nx.DiGraph()
    for section, kind in NODE_SECTIONS:
        for index, node in enumerate(getattr(topo, section)):
            graph.add_node(node.name, kind=kind, section=section, index=index)
    for position, tier in enumerate(topo.tiers):
        graph.nodes[tier.name].update(
            tier=position,
            instances=tier.instances,
            reach=topo.reach if position == 0 else "tier",
            variant=tier.balancer == VARIANT,
        )
    for index, link in enumerate(topo.links):
        graph.add_edge(
            link.from_,
            link.to,
            index=index,
            latency=link.latency,
            bandwidth=link.bandwidth,
            mtu=link.mtu,
            queue=link.queue,
            loss=link.loss,
        )
    return graph


def inline_balancer(tier: TierConfig) -> BalancerConfig:
    """The balancer entry of a tier that gives one inline (named after the tier).

    Raises:
        KeyedValueError: If the entry is not a valid balancer (path below the tier's
            ``balancer``).
    """
    from lbsim.scenario.schema import BalancerConfig

    try:
        return BalancerConfig.model_validate({**tier.balancer, "name": tier.name})
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        ctx_error = (first.get("ctx") or {}).get("error")
        if isinstance(ctx_error, KeyedValueError):
            loc, message = (*loc, *ctx_error.key), ctx_error.message
        else:
            message = first["msg"]
        raise KeyedValueError(("balancer", *loc), message) from None


def _where(graph: nx.DiGraph, name: str) -> tuple[str | int, ...]:
    node = graph.nodes[name]
    return ("topology", node["section"], node["index"])


def _reaches_through_routers(graph: nx.DiGraph, source: str, target: str) -> bool:
    """Whether ``target`` is reachable from ``source`` crossing only routers between."""
    import networkx as nx

    keep = {source, target} | {n for n, k in graph.nodes(data="kind") if k == "router"}
    return bool(nx.has_path(graph.subgraph(keep), source, target))


def check_topology(scenario: Scenario) -> None:
    """Check the scenario's topology (see the module docstring); no-op without one.

    Raises:
        KeyedValueError: With the key path (from the scenario's root) of the first
            violation.
    """
    check_instance_events(scenario)
    topo = scenario.topology
    if topo is None:
        return
    _check_references(scenario, topo)
    graph = build_graph(topo)
    _check_shape(graph, topo)
    _check_paths(graph, topo)


def _check_references(scenario: Scenario, topo: TopologyConfig) -> None:
    groups = [c.name for c in scenario.clients]
    placed: dict[str, str] = {}
    for s_index, site in enumerate(topo.sites):
        for c_index, name in enumerate(site.clients):
            where = ("topology", "sites", s_index, "clients", c_index)
            if name not in groups:
                raise KeyedValueError(
                    where, f'no client group "{name}" (client groups: {", ".join(groups)})'
                )
            if name in placed:
                raise KeyedValueError(
                    where, f'client group "{name}" is already in site "{placed[name]}"'
                )
            placed[name] = site.name
    for name in groups:
        if name not in placed:
            raise KeyedValueError(
                ("topology", "sites"), f'client group "{name}" is in no site; add it to one'
            )
    known = [g.group for g in scenario.backends]
    for v_index, service in enumerate(topo.services):
        for g_index, group in enumerate(service.groups):
            if group not in known:
                raise KeyedValueError(
                    ("topology", "services", v_index, "groups", g_index),
                    f'no backend group "{group}" (backend groups: {", ".join(known)})',
                )
    for t_index, tier in enumerate(topo.tiers):
        if tier.balancer != VARIANT:
            try:
                inline_balancer(tier)
            except KeyedValueError as err:
                raise KeyedValueError(
                    ("topology", "tiers", t_index, *err.key), err.message
                ) from None


def _check_shape(graph: nx.DiGraph, topo: TopologyConfig) -> None:
    import networkx as nx

    for a, b, index in graph.edges(data="index"):
        if graph.nodes[b]["kind"] == "site":
            raise KeyedValueError(
                ("topology", "links", index, "to"),
                f'"{b}" is a client site: requests start there and never arrive; '
                "write the link from the site",
            )
        if graph.nodes[a]["kind"] == "service":
            raise KeyedValueError(
                ("topology", "links", index, "from"),
                f'"{a}" is a service: requests end there and go no further; '
                "write the link to the service",
            )
    first = topo.sites[0].name
    component = nx.node_connected_component(graph.to_undirected(as_view=True), first)
    for name in graph.nodes:
        if name not in component:
            raise KeyedValueError(
                _where(graph, name),
                f'"{name}" is not connected to site "{first}": add a link that joins it',
            )
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        hops = " -> ".join([a for a, _b in cycle] + [cycle[0][0]])
        index = graph.edges[cycle[-1][0], cycle[-1][1]]["index"]
        raise KeyedValueError(
            ("topology", "links", index), f"forwarding loop {hops}: requests would circle forever"
        )


def _check_paths(graph: nx.DiGraph, topo: TopologyConfig) -> None:
    tiers = topo.tiers
    for site in topo.sites:
        if not _reaches_through_routers(graph, site.name, tiers[0].name):
            raise KeyedValueError(
                _where(graph, site.name),
                f'no path of links (through routers only) from site "{site.name}" to the '
                f'first tier "{tiers[0].name}", the address its clients connect to',
            )
    for here, after in itertools.pairwise(tiers):
        if not _reaches_through_routers(graph, here.name, after.name):
            raise KeyedValueError(
                _where(graph, here.name),
                f'no path of links (through routers only) from tier "{here.name}" to the '
                f'next tier "{after.name}"',
            )
    last = tiers[-1].name
    for service in topo.services:
        if not _reaches_through_routers(graph, last, service.name):
            raise KeyedValueError(
                _where(graph, last),
                f'no path of links (through routers only) from the last tier "{last}" to '
                f'service "{service.name}"',
            )
    if topo.reach == "ecmp":
        kinds = [graph.nodes[p]["kind"] for p in graph.predecessors(tiers[0].name)]
        if "router" not in kinds:
            raise KeyedValueError(
                ("topology", "tiers", 0, "reach"),
                "ECMP hashes flows at a router, but no link goes from a router to "
                f'tier "{tiers[0].name}"',
            )


def forwarding_path(graph: nx.DiGraph, source: str, target: str) -> list[str]:
    """The nodes a request crosses from ``source`` to ``target`` (both included).

    The path with the least total latency among those through routers only.

    Raises:
        networkx.NetworkXNoPath: If there is none (a checked topology always has one
            between a site and the first tier, consecutive tiers, and the last tier
            and each service).
    """
    import networkx as nx

    keep = {source, target} | {n for n, k in graph.nodes(data="kind") if k == "router"}
    path: list[str] = nx.shortest_path(graph.subgraph(keep), source, target, weight="latency")
    return path


def path_latency(graph: nx.DiGraph, path: list[str]) -> float:
    """Sum of the one-way latencies of the links along ``path``, seconds."""
    return float(sum(graph.edges[a, b]["latency"] for a, b in itertools.pairwise(path)))


def describe(graph: nx.DiGraph) -> dict[str, Any]:
    """The graph as plain data (nodes with their attributes, edges with theirs)."""
    return {
        "nodes": [{"name": n, **attrs} for n, attrs in graph.nodes(data=True)],
        "links": [{"from": a, "to": b, **attrs} for a, b, attrs in graph.edges(data=True)],
    }


def star_topology(scenario: Scenario) -> TopologyConfig:
    """Today's star as a topology, for drawing a scenario that has no ``topology:``.

    One site per client group (its access link is the group's link), one tier of
    one instance where each variant's balancer sits, one service per backend group
    joined by ``network.backend_link``. In the star a client host's link ends at the
    balancer, so the site-to-tier edge adds nothing (zero latency); the run itself
    never builds this graph, so the star's wiring and outputs stay what they were.
    """
    backend = scenario.network.backend_link.model_dump(mode="json")
    tier = "balancer"
    sites = [
        {
            "name": f"site-{c.name}",
            "clients": [c.name],
            "access": (c.link or scenario.network.client_link).model_dump(mode="json"),
        }
        for c in scenario.clients
    ]
    taken = {tier} | {s["name"] for s in sites}
    services = [
        {"name": g.group if g.group not in taken else f"service-{g.group}", "groups": [g.group]}
        for g in scenario.backends
    ]
    access_hop = {"latency": "0s", "bandwidth": "1000Gbps", "queue": "1GB"}
    links = [{"from": s["name"], "to": tier, **access_hop} for s in sites]
    links += [{"from": tier, "to": s["name"], **backend} for s in services]
    return TopologyConfig.model_validate(
        {
            "sites": sites,
            "tiers": [{"name": tier, "balancer": VARIANT}],
            "services": services,
            "links": links,
        }
    )
