"""Paths through a topology run: the link that leaves an element, and the path MTU.

Theory of operation: a topology's nodes (sites, routers, tiers, services) are
run as *elements* -- a router is one element, a tier of ``n`` instances is ``n``
elements -- and every edge of the graph is a pair of one-way links between every
two elements of its ends (:mod:`lbsim.run.tiers`). A request goes from node to
node along :func:`~lbsim.scenario.topology_graph.forwarding_path`, the
least-latency path through routers only. :class:`Paths` answers the two
questions the wiring asks of that path:

* **which link** an element sends on towards a node (its first hop: the target
  element itself when the two nodes are joined by an edge, else the router in
  between, which routes by address);
* **the path MTU** between two nodes: the smallest MTU of the links along the
  path (the access link of a client site and the backend link of a service
  included by the callers). Each end of a connection offers the MSS of that path
  MTU (MTU less 40 bytes of IPv4 and TCP headers) -- as a host does once path MTU
  discovery (RFC 1191, RFC 8899) has learned the smallest hop and cached it per
  destination, which Linux does -- so no segment is larger than a link it crosses,
  and a layer-4 balancer's MSS clamp compares the client's own path with the
  chosen backend's path, not with the first link's MTU.

The path of a connection is the path between its two TCP ends: a client and the
first tier that terminates TCP (a proxy or layer-7 tier) or, when every tier
forwards packets (NAT, DSR), the backend; a terminating tier and the next
terminating tier or the backend.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from lbsim.scenario.topology_graph import forwarding_path

if TYPE_CHECKING:
    import networkx as nx

    from lbsim.net.link import Link

__all__ = ["Paths"]


class Paths:
    """Least-latency paths of a topology graph, with their links and MTUs.

    Attributes:
        graph: The topology graph.
        elements: Elements of each node (the router itself, or a tier's instances).
        links: The one-way link between two elements, by ``(from, to)``.
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        elements: dict[str, list[str]],
        links: dict[tuple[str, str], Link],
    ) -> None:
        self.graph = graph
        self.elements = elements
        self.links = links
        self._paths: dict[tuple[str, str], list[str]] = {}

    def nodes(self, *stops: str) -> list[str]:
        """The nodes a request crosses from ``stops[0]`` through each stop in turn."""
        out = [stops[0]]
        for a, b in itertools.pairwise(stops):
            path = self._paths.get((a, b))
            if path is None:
                path = self._paths[(a, b)] = forwarding_path(self.graph, a, b)
            out += path[1:]
        return out

    def mtu(self, *stops: str) -> int:
        """The smallest MTU of the links along the path through ``stops``."""
        path = self.nodes(*stops)
        edges = self.graph.edges
        return min(int(edges[a, b]["mtu"]) for a, b in itertools.pairwise(path))

    def link_towards(self, element: str, node: str, target: str, target_element: str) -> Link:
        """The link ``element`` (of ``node``) sends on towards ``target_element`` of ``target``.

        The first hop of the path from ``node`` to ``target``: the target element
        itself when the nodes are joined by an edge, else the router after ``node``.
        """
        hop = self.nodes(node, target)[1]
        if hop == target:
            return self.links[(element, target_element)]
        return self.links[(element, self.elements[hop][0])]
