"""The nodes of a topology run, as ``lbsim trace`` and the packet viewer name them.

Theory of operation: a run of a scenario with ``topology:`` names its links
``sender>receiver`` after *elements*: client hosts (``east-h0``), the graph's
sites, routers and services (each one router, named after the node), every
instance of every tier (``<tier>-<i>``, 1-based) and the backends (``api-1``).
:func:`topology_nodes` describes each element from the scenario alone: its role,
the graph node it belongs to, what it is in words (``instance 2 of 3 of tier
proxies: L7 round_robin``), the balancer kind of a tier instance
(:func:`lbsim.teach.layers.balancer_kind`) and whether it forwards packets
(routers, and the instances of an L4 ``nat`` or ``dsr`` tier) or ends TCP
(clients, backends, the instances of an L4 ``proxy`` or an L7 tier). The tier
whose balancer is the variant's takes the variant's entry, the others their
inline one (:func:`lbsim.scenario.topology_graph.inline_balancer`), exactly as
the run builds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbsim.capture.limits import host_addresses
from lbsim.net.addresses import ip_to_str, tier_address
from lbsim.scenario import Scenario
from lbsim.scenario.schema import BalancerConfig
from lbsim.scenario.topology import VARIANT
from lbsim.scenario.topology_graph import inline_balancer
from lbsim.teach.layers import balancer_kind

__all__ = ["TierNode", "node_of", "tier_balancers", "topology_nodes"]

_KIND_TEXT = {"l4-nat": "L4 NAT", "l4-dsr": "L4 DSR", "l4-proxy": "L4 proxy", "l7": "L7"}


@dataclass(frozen=True, slots=True)
class TierNode:
    """One element of a topology run.

    Attributes:
        name: Element name, as links name it.
        role: ``client``, ``site``, ``router``, ``balancer`` (a tier instance),
            ``service`` or ``backend``.
        node: The graph node it belongs to (a tier's name for an instance, the
            client group for a client host, the backend group for a backend).
        text: What it is, in words.
        ip: Its address (``""`` for routers, which have none of their own).
        kind: Balancer kind of a tier instance (``l4-dsr``, ``l7``, ...), else ``""``.
        forwards: Whether it forwards packets rather than ending TCP connections.
        variant: Whether it is an instance of the variant's tier.
    """

    name: str
    role: str
    node: str
    text: str
    ip: str = ""
    kind: str = ""
    forwards: bool = False
    variant: bool = False


def tier_balancers(scenario: Scenario, variant: str) -> list[BalancerConfig]:
    """Each tier's balancer entry in the run of ``variant`` (in tier order)."""
    topo = scenario.topology
    assert topo is not None
    chosen = next(b for b in scenario.balancers if b.name == variant)
    return [chosen if t.balancer == VARIANT else inline_balancer(t) for t in topo.tiers]


def topology_nodes(scenario: Scenario, variant: str) -> dict[str, TierNode]:
    """Every element of ``variant``'s topology run, by name (see the module docstring)."""
    topo = scenario.topology
    assert topo is not None
    nodes: dict[str, TierNode] = {}
    for site in topo.sites:
        groups = ", ".join(site.clients)
        text = f"router of the site of client group(s) {groups}"
        nodes[site.name] = TierNode(site.name, "site", site.name, text, forwards=True)
    for router in topo.routers:
        nodes[router.name] = TierNode(router.name, "router", router.name, "router", forwards=True)
    for service in topo.services:
        groups = ", ".join(service.groups)
        text = f"router of service {service.name}, backend group(s) {groups}"
        nodes[service.name] = TierNode(service.name, "service", service.name, text, forwards=True)
    configs = tier_balancers(scenario, variant)
    for t, (tier, cfg) in enumerate(zip(topo.tiers, configs, strict=True)):
        kind = balancer_kind(cfg)
        how = f"{_KIND_TEXT.get(kind, kind)} {cfg.algorithm}"
        for i in range(1, tier.instances + 1):
            name = f"{tier.name}-{i}"
            mine = tier.balancer == VARIANT
            nodes[name] = TierNode(
                name,
                "balancer",
                tier.name,
                f"instance {i} of {tier.instances} of tier {tier.name}: {how}"
                + ("; the variant's tier" if mine else ""),
                ip_to_str(tier_address(t, i)),
                kind,
                kind in ("l4-nat", "l4-dsr"),
                mine,
            )
    hosts = host_addresses(scenario)
    for group in scenario.clients:
        for h in range(group.hosts):
            host = f"{group.name}-h{h}"
            text = f"client host of group {group.name}"
            nodes[host] = TierNode(host, "client", group.name, text, ip_to_str(hosts[host]))
    for bgroup in scenario.backends:
        for i in range(1, bgroup.count + 1):
            host = f"{bgroup.group}-{i}"
            text = f"backend of group {bgroup.group}"
            nodes[host] = TierNode(host, "backend", bgroup.group, text, ip_to_str(hosts[host]))
    return nodes


def node_of(nodes: dict[str, TierNode], name: str) -> TierNode:
    """The description of ``name`` (a backend added by a scale-out is described by its group)."""
    found = nodes.get(name)
    if found is not None:
        return found
    group = name.rsplit("-", 1)[0]
    return TierNode(name, "backend", group, f"backend of group {group}")
