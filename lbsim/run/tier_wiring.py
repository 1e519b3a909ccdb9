"""Wiring that composes tiers: who each tier's clients are, DNS, tunnels, path MTUs.

Theory of operation: :class:`~lbsim.run.tiers.TieredBuild` makes one balancer per
tier instance; this module answers, for it, what depends on how the tiers stack
(:mod:`lbsim.run.compose`):

* :func:`tier_clients`: the "clients" of an instance -- the client hosts (links
  towards their sites, the MSS of each host's path to this tier) or, behind a
  terminating tier, that tier's instances (their inside addresses, the MSS of the
  path between the two tiers);
* :func:`first_tier_vip`: the address an instance of the first tier serves on --
  the VIP, or its own address when clients find it by DNS;
* :func:`compose_tiers`, once every instance, link and route exists: instances
  behind a NAT or terminating tier also accept connections on their own address,
  port 8080, and 8443 for TLS (the tier in front treats them as backends and
  connects, or NATs, to those ports); a ``dsr`` last tier
  reaches its backends by tunnels (:mod:`lbsim.run.encap`); DNS resolvers for the
  client hosts and routes to each instance's public address
  (:mod:`lbsim.run.dns`); and every end host learns the path MTU to its peers
  (:mod:`lbsim.run.paths`): a client host towards the address it connects to, a
  backend towards whoever opens connections to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lbsim.net.addresses import NAT_PORTS, VIP, tier_address
from lbsim.net.segment import mss_for_mtu
from lbsim.run.compose import client_origin, hides_clients, terminates
from lbsim.run.dns import DnsServer, Resolver, dns_address
from lbsim.run.encap import Decap, Tunnel

if TYPE_CHECKING:
    from lbsim.net.link import Link
    from lbsim.run.tiers import TieredBuild
    from lbsim.scenario.schema import BalancerConfig
    from lbsim.scenario.topology import TopologyConfig

__all__ = ["compose_tiers", "first_tier_vip", "tier_clients"]


def first_tier_vip(topo: TopologyConfig, t: int, i: int) -> int:
    """The address instance ``i`` (1-based) of tier ``t`` serves its clients on."""
    return dns_address(i) if t == 0 and topo.reach == "dns" else VIP


def tier_clients(
    build: TieredBuild,
    configs: list[BalancerConfig],
    t: int,
    x: str,
    upstream: dict[str, str],
    site_of_ip: dict[int, str],
) -> tuple[dict[int, Link], dict[int, int], dict[int, str]]:
    """Links, path MSS and group of each client address of instance ``x`` of tier ``t``.

    Args:
        build: The build (its paths and hosts exist).
        configs: Every tier's balancer entry in this variant.
        t: The tier's index.
        x: The instance's element name.
        upstream: The node before the tier on each site's path.
        site_of_ip: Each client host's site.
    """
    topo = build.scenario.topology
    assert topo is not None
    paths = build.paths
    names = [tier.name for tier in topo.tiers]
    k = client_origin(configs, topo, t)
    if k is None:
        access = {s.name: s.access.mtu for s in topo.sites}
        links = {
            ip: paths.links[(x, paths.elements[upstream[s]][0])] for ip, s in site_of_ip.items()
        }
        mss = {
            ip: mss_for_mtu(min(access[s], paths.mtu(s, *names[: t + 1])))
            for ip, s in site_of_ip.items()
        }
        return links, mss, build.topology.client_groups
    front = names[k]
    before = paths.nodes(front, names[t])[-2]
    links = {}
    for j, xf in enumerate(paths.elements[front], start=1):
        hop = xf if before == front else paths.elements[before][0]
        links[tier_address(k, j)] = paths.links[(x, hop)]
    path_mss = mss_for_mtu(paths.mtu(front, names[t]))
    return links, dict.fromkeys(links, path_mss), dict.fromkeys(links, front)


def compose_tiers(build: TieredBuild, configs: list[BalancerConfig]) -> None:
    """Finish the wiring that depends on how tiers stack (see the module docstring)."""
    topo = build.scenario.topology
    assert topo is not None
    for t in range(1, len(configs)):
        front = configs[t - 1]
        if front.layer == 4 and front.mode == "dsr":
            continue  # the VIP passes unchanged: instances accept it as they are
        for i, lb in enumerate(build.tiers[topo.tiers[t].name], start=1):
            for stack in lb.stacks():
                for vip_port, port in NAT_PORTS.items():  # 80 -> 8080, TLS 443 -> 8443
                    accept = stack.listening.get((VIP, vip_port))
                    if accept is not None:
                        stack.listen(tier_address(t, i), port, accept)
    last = configs[-1]
    if not terminates(last) and last.mode == "dsr":
        _tunnel_to_backends(build)
    if topo.reach == "dns":
        _resolve_by_dns(build)
    _learn_path_mtus(build, configs)


def _tunnel_to_backends(build: TieredBuild) -> None:
    topo = build.scenario.topology
    assert topo is not None
    tier = topo.tiers[-1]
    decaps: dict[int, Decap] = {}
    down = {ref.ip: ref.link for ref in build.topology.refs}
    for lb in build.tiers[tier.name]:
        for ref in lb.backends:
            link = ref.link
            decap = decaps.get(id(link))
            if decap is None:
                decap = decaps[id(link)] = Decap(link)
            ref.link = Tunnel(decap, down[ref.ip]).as_link()
    build.decaps = list(decaps.values())


def _resolve_by_dns(build: TieredBuild) -> None:
    topo = build.scenario.topology
    assert topo is not None
    first = topo.tiers[0]
    addresses = [dns_address(i) for i in range(1, first.instances + 1)]
    server = build.dns = DnsServer(addresses)
    for group in build.clients:
        for host in group.hosts:
            host.resolve = Resolver(server, first.dns_ttl)
    for router in build.routers.values():
        for i, address in enumerate(addresses, start=1):
            link = router.routes.get(tier_address(0, i))
            if link is not None:
                router.add_route(address, link)


def _learn_path_mtus(build: TieredBuild, configs: list[BalancerConfig]) -> None:
    """Each end host's MSS towards its peers: the smallest MTU of the path."""
    topo = build.scenario.topology
    assert topo is not None
    paths = build.paths
    names = [tier.name for tier in topo.tiers]
    access = {s.name: s.access.mtu for s in topo.sites}
    ends = [t for t, cfg in enumerate(configs) if terminates(cfg)]
    backend_mtu = build.scenario.network.backend_link.mtu
    services = [v.name for v in topo.services]
    site_of_group = {g: s.name for s in topo.sites for g in s.clients}
    peers = [dns_address(i) for i in range(1, topo.tiers[0].instances + 1)] + [VIP]
    for group in build.clients:
        site = site_of_group[group.cfg.name]
        if ends:
            mtu = paths.mtu(site, *names[: ends[0] + 1])
        else:
            mtu = min(min(paths.mtu(site, *names, v) for v in services), backend_mtu)
        mss = mss_for_mtu(min(access[site], mtu))
        for host in group.hosts:
            for peer in peers:
                host.stack.mss_by_peer[peer] = mss
    hosts = build.topology
    for backend in hosts.backends:
        service = build._service_of(backend.group)
        if ends:  # the last tier terminates (nothing forwards packets behind one)
            mss = mss_for_mtu(min(backend_mtu, paths.mtu(names[-1], service)))
            for i in range(1, topo.tiers[-1].instances + 1):
                backend.stack.mss_by_peer[tier_address(len(names) - 1, i)] = mss
            continue
        path_mss = {
            ip: mss_for_mtu(min(access[s], backend_mtu, paths.mtu(s, *names, service)))
            for ip, s in ((ip, site_of_group[g]) for ip, g in hosts.client_groups.items())
        }
        if hides_clients(configs, topo, len(names) - 1):  # full NAT: peers are instances
            for i in range(1, topo.tiers[-1].instances + 1):
                backend.stack.mss_by_peer[tier_address(len(names) - 1, i)] = min(path_mss.values())
            continue
        backend.stack.mss_by_peer.update(path_mss)
