"""Running a scenario's ``topology:``: routers, tiers of balancer instances, services.

Theory of operation: :class:`TieredBuild` is a :class:`~lbsim.run.variant.VariantBuild`
whose hosts and balancer step follow the topology graph
(:mod:`lbsim.scenario.topology_graph`) instead of the star:

* client hosts get their site's access link and hang off the site, a
  :class:`~lbsim.run.ecmp.Router`; backends hang off their service's router by
  ``network.backend_link`` (:class:`GraphHosts`);
* every edge of the graph becomes one-way links in both directions between every
  pair of its ends' elements (a router, or each instance of a tier), named
  ``from>to`` after the elements, with the edge's settings;
* each instance of each tier is its own :class:`~lbsim.lb.base.Balancer`, made by
  the registry from its own :class:`~lbsim.lb.base.Wiring` (own CPU, table,
  pools, cache, own address ``172.16.(t+1).i``): towards clients, the link to the
  neighbour on its site's path; as backends, the next tier's instances (by their
  addresses and links) or, for the last tier, the backends over the link to their
  service's router;
* routers route by destination address along least-latency paths of the graph;
  a router next to the first tier spreads flows to the VIP over its instances by
  ECMP (or sends them to the one instance of a ``vip`` tier).

Which stacks of tiers run, and who each tier's clients are, is
:mod:`lbsim.run.compose`: packet-forwarding tiers (``dsr``, one ``nat``) first,
then terminating tiers (proxy, layer 7) in any number. :mod:`lbsim.run.paths`
gives each instance the link towards the next node and the path MTU of each
connection; :mod:`lbsim.run.tier_wiring` finishes what depends on the stack
(instances behind a terminating tier listen on their own address, a ``dsr``
last tier tunnels to its backends, :mod:`lbsim.run.dns` for ``reach: dns``, end
hosts' MSS per peer from the path MTU).

The variant tier's instances are gathered in a :class:`~lbsim.run.fleet.Fleet`,
the build's ``lb``, so sampling, counters and results work as for one balancer;
per-instance counters are ``instance.<name>.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lbsim.host.cpu import Cpu
from lbsim.lb.backends import BackendRef
from lbsim.lb.base import Balancer, Wiring
from lbsim.lb.registry import make_balancer
from lbsim.net.addresses import VIP, ip_from_str, tier_address
from lbsim.net.link import Link
from lbsim.net.segment import mss_for_mtu
from lbsim.nodes.client import ClientHost
from lbsim.run.compose import check_composition
from lbsim.run.dns import DnsServer
from lbsim.run.ecmp import Router
from lbsim.run.encap import Decap
from lbsim.run.fleet import CpuFleet, Fleet
from lbsim.run.instance_faults import InstanceFaults
from lbsim.run.links import make_link
from lbsim.run.paths import Paths
from lbsim.run.tier_health import scale_out_tier, start_tier_checks
from lbsim.run.tier_wiring import compose_tiers, first_tier_vip, tier_clients
from lbsim.run.topology import Topology
from lbsim.run.variant import Progress, VariantBuild
from lbsim.scenario import Scenario
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.schema import BackendGroup, BalancerConfig, ClientGroup, LinkConfig
from lbsim.scenario.topology import VARIANT
from lbsim.scenario.topology_graph import build_graph, inline_balancer
from lbsim.sched import call_at
from lbsim.streams import stream_seed

if TYPE_CHECKING:
    import networkx as nx

    from lbsim.nodes.backend import Backend

__all__ = ["GraphHosts", "TieredBuild", "check_topology_runnable"]


def check_topology_runnable(scenario: Scenario) -> None:
    """Refuse what a topology run does not support yet, with the key path.

    Raises:
        ScenarioError: File ``<scenario>``, on the first unsupported feature.
    """
    topo = scenario.topology
    if topo is None:
        return

    def refuse(path: str, message: str) -> None:
        raise ScenarioError("<scenario>", path, message)

    grouped = {g for v in topo.services for g in v.groups}
    for group in scenario.backends:
        if group.group not in grouped:
            refuse("topology.services", f'backend group "{group.group}" is in no service')
    check_composition(scenario, [tier_configs(scenario, b) for b in scenario.balancers])


def tier_configs(scenario: Scenario, variant: BalancerConfig) -> list[BalancerConfig]:
    """Each tier's balancer entry in the run of ``variant``."""
    topo = scenario.topology
    assert topo is not None
    return [variant if t.balancer == VARIANT else inline_balancer(t) for t in topo.tiers]


def _link_config(attrs: dict[str, float]) -> LinkConfig:
    return LinkConfig.model_construct(
        latency=attrs["latency"],
        bandwidth=attrs["bandwidth"],
        mtu=int(attrs["mtu"]),
        queue=attrs["queue"],
        loss=attrs["loss"],
    )


class GraphHosts(Topology):
    """Hosts of a topology run: clients at their site, backends at their service."""

    def add_client_hosts(self, group: ClientGroup) -> list[ClientHost]:
        """The group's hosts, linked to their site by the site's access link."""
        topo = self.scenario.topology
        assert topo is not None
        site = next(s for s in topo.sites if group.name in s.clients)
        self.hub = self.reply_hop = site.name
        access = LinkConfig.model_construct(**dict(site.access))
        return super().add_client_hosts(group.model_copy(update={"link": access}))

    def add_backend(self, group: BackendGroup) -> tuple[Backend, BackendRef, Link]:
        """The group's next instance, linked to its service's router."""
        topo = self.scenario.topology
        assert topo is not None
        service = next(v for v in topo.services if group.group in v.groups)
        self.hub = self.reply_hop = service.name
        return super().add_backend(group)


class TieredBuild(VariantBuild):
    """One variant's run on a topology (see the module docstring).

    Attributes:
        graph: The topology graph.
        routers: Router of each site, router and service node.
        tiers: Balancer instances of each tier, by tier name, in order.
    """

    topology_class = GraphHosts
    #: Tunnel ends of a dsr last tier (:mod:`lbsim.run.encap`), and the DNS server
    #: of ``reach: dns`` (:mod:`lbsim.run.dns`), when there are.
    decaps: list[Decap]
    dns: DnsServer | None

    def _make_balancer(self) -> Balancer:
        sc, topo_hosts = self.scenario, self.topology
        topo = sc.topology
        assert topo is not None
        graph = self.graph = build_graph(topo)
        self.decaps, self.dns = [], None
        seed, tracer = sc.seed, topo_hosts.tracer
        self.routers = {
            n: Router(n, stream_seed(seed, "ecmp", n), self.recorder)
            for n, kind in graph.nodes(data="kind")
            if kind != "tier"
        }
        elements = {n: [n] for n in self.routers}
        for tier in topo.tiers:
            elements[tier.name] = [f"{tier.name}-{i}" for i in range(1, tier.instances + 1)]
        variant_tier = topo.variant_tier().name
        import networkx as nx

        backend_side = {variant_tier} | nx.descendants(graph, variant_tier)
        links: dict[tuple[str, str], Link] = {}
        for a, b, attrs in graph.edges(data=True):
            link_cfg = _link_config(attrs)
            side = "backend" if a in backend_side else "client"
            for x in elements[a]:
                for y in elements[b]:
                    for u, v in ((x, y), (y, x)):
                        link = make_link(self.env, f"{u}>{v}", side, link_cfg, tracer, seed)
                        links[(u, v)] = link
                        topo_hosts.links.append(link)
        self.tiers: dict[str, list[Balancer]] = {}
        configs = tier_configs(sc, self.balancer)
        cpus: dict[str, Cpu] = {}
        site_of_ip = {
            ip: next(s.name for s in topo.sites if g in s.clients)
            for ip, g in topo_hosts.client_groups.items()
        }
        undirected = graph.to_undirected(as_view=True)
        last = len(topo.tiers) - 1
        paths = self.paths = Paths(graph, elements, links)
        names = [t.name for t in topo.tiers]
        for t, tier in enumerate(topo.tiers):
            cfg = configs[t]
            upstream = {
                s.name: nx.shortest_path(undirected, s.name, tier.name, weight="latency")[-2]
                for s in topo.sites
            }
            instances = []
            for i, x in enumerate(elements[tier.name], start=1):
                client_links, client_mss, client_groups = tier_clients(
                    self, configs, t, x, upstream, site_of_ip
                )
                if t == last:
                    refs = []
                    for r in topo_hosts.refs:
                        service = self._service_of(r.group)
                        mtu = paths.mtu(tier.name, service)
                        link = paths.link_towards(x, tier.name, service, service)
                        refs.append(
                            BackendRef(
                                r.name, r.group, r.ip, r.weight, link, min(r.mss, mss_for_mtu(mtu))
                            )
                        )
                else:
                    nxt = names[t + 1]
                    mss = mss_for_mtu(paths.mtu(tier.name, nxt))
                    refs = [
                        BackendRef(
                            y,
                            nxt,
                            tier_address(t + 1, j),
                            1.0,
                            paths.link_towards(x, tier.name, nxt, y),
                            mss,
                        )
                        for j, y in enumerate(elements[nxt], start=1)
                    ]
                cpu = cpus[x] = Cpu(cfg.cores)
                lb = make_balancer(
                    Wiring(
                        env=self.env,
                        config=cfg.model_copy(update={"name": x}),
                        recorder=self.recorder,
                        cpu=cpu,
                        params=self.params,
                        seed=seed,
                        client_links=client_links,
                        client_mss=client_mss,
                        client_groups=client_groups,
                        backends=refs,
                        default_mss=mss_for_mtu(sc.network.client_link.mtu),
                        vip=first_tier_vip(topo, t, i),
                        inside=tier_address(t, i),
                        source_nat=tier.source_nat,
                        pick_on_miss=True,
                    )
                )
                instances.append(lb)
            self.tiers[tier.name] = instances
        self.tier_links = links
        self._attach(graph, elements, links)
        self._route(graph, elements, links, site_of_ip)
        compose_tiers(self, configs)
        if any(lb.vip_on_backends for lb in self.tiers[topo.tiers[last].name]):
            for backend in topo_hosts.backends:
                backend.listen_on_vip()
        fleet = self.tiers[variant_tier]
        self.instance_cpus = cpus
        self.cpu = CpuFleet([cpus[x] for x in elements[variant_tier]])
        lb = Fleet(self.balancer.name, self.balancer.layer, fleet, self.tiers)
        self.instance_faults = InstanceFaults(self.tiers, self.routers)
        self.eligible = tuple(r.name for r in topo_hosts.refs)
        return lb

    def _service_of(self, group: str) -> str:
        topo = self.scenario.topology
        assert topo is not None
        return next(v.name for v in topo.services if group in v.groups)

    def _attach(
        self, graph: nx.DiGraph, elements: dict[str, list[str]], links: dict[tuple[str, str], Link]
    ) -> None:
        instance = {
            name: lb
            for tier, lbs in self.tiers.items()
            for name, lb in zip(elements[tier], lbs, strict=True)
        }
        owner = {x: node for node, xs in elements.items() for x in xs}
        for (u, v), link in links.items():
            if v in self.routers:
                link.attach(self.routers[v].receive)
                continue
            lb = instance[v]
            # A link from the node requests come from delivers to the client side.
            if graph.has_edge(owner[u], owner[v]):
                link.attach(lb.client_receive)
            else:
                link.attach(lb.backend_receive)
        hosts = self.topology
        for up in hosts.client_uplinks:
            up.attach(self.routers[up.name.split(">")[1]].receive)
        for up in hosts.backend_uplinks:
            up.attach(self.routers[up.name.split(">")[1]].receive)

    def _route(
        self,
        graph: nx.DiGraph,
        elements: dict[str, list[str]],
        links: dict[tuple[str, str], Link],
        site_of_ip: dict[int, str],
    ) -> None:
        import networkx as nx

        sc = self.scenario
        topo = sc.topology
        assert topo is not None
        hosts = self.topology
        undirected = graph.to_undirected(as_view=True)
        first = topo.tiers[0].name
        tier_index = {t.name: i for i, t in enumerate(topo.tiers)}
        for name, router in self.routers.items():
            paths = nx.single_source_dijkstra_path(undirected, name, weight="latency")
            for ip, site in site_of_ip.items():
                if site == name:
                    router.add_route(ip, hosts.client_links[ip])
                elif site in paths:
                    # Towards a tier (backends answering a NAT or DSR tier's
                    # clients): its first instance -- the only one of a NAT tier,
                    # a stateless switch of a DSR tier.
                    hop = paths[site][1]
                    router.add_route(ip, links[(name, elements[hop][0])])
            for ref in hosts.refs:
                service = self._service_of(ref.group)
                if service == name:
                    router.add_route(ref.ip, ref.link)
                elif service in paths and paths[service][1] in self.routers:
                    router.add_route(ref.ip, links[(name, paths[service][1])])
            for tier, t in tier_index.items():
                path = paths.get(tier)
                if path is None:
                    continue
                hop = path[1]
                for i, x in enumerate(elements[tier], start=1):
                    out = links[(name, x)] if hop == tier else links.get((name, hop))
                    if out is not None and (hop == tier or hop in self.routers):
                        router.add_route(tier_address(t, i), out)
                if tier != first:
                    continue
                if hop == tier:
                    router.add_ecmp(VIP, [links[(name, x)] for x in elements[tier]])
                elif hop in self.routers:
                    router.add_route(VIP, links[(name, hop)])

    def _start_health_checks(self) -> None:
        """Each instance of a checking tier checks its own view of what it balances over."""
        self.health = start_tier_checks(self, tier_configs(self.scenario, self.balancer))

    def scale_out(self, group: str) -> None:
        """One more backend in ``group``, used by every instance of the last tier."""
        scale_out_tier(self, group)

    def start(self, progress: Progress | None = None) -> None:
        """Start as a star's build does, and note each instance's CPU over the window."""
        if self._started:
            return
        super().start(progress)
        sc = self.scenario
        self.instance_window: dict[str, list[float]] = {x: [0.0, 0.0] for x in self.instance_cpus}
        for x, cpu in self.instance_cpus.items():
            window = self.instance_window[x]
            call_at(
                self.env, sc.warmup, lambda w=window, c=cpu: w.__setitem__(0, c.busy_by(sc.warmup))
            )
            call_at(
                self.env,
                sc.duration,
                lambda w=window, c=cpu: w.__setitem__(1, c.busy_by(sc.duration)),
            )

    def counters(self, end: float) -> dict[str, float]:
        """The star's counters, plus ``instance.<name>.*`` for every tier instance."""
        out = super().counters(end)
        sc = self.scenario
        span = sc.duration - sc.warmup
        for lbs in self.tiers.values():
            for lb in lbs:
                x = lb.name
                cpu = self.instance_cpus[x]
                start, stop = self.instance_window.get(x, [0.0, cpu.busy_by(end)])
                out[f"instance.{x}.cpu_utilization"] = (stop - start) / (cpu.cores * span)
                for key, value in lb.counters().items():
                    out[f"instance.{x}.{key.removeprefix('lb.')}"] = value
                out[f"instance.{x}.cpu_jobs"] = cpu.jobs
        for router in self.routers.values():
            for group in router.groups.values():
                for hop, flows in zip(group.hops, group.flows, strict=True):
                    key = f"instance.{hop.name.split('>')[1]}.flows"
                    out[key] = out.get(key, 0) + flows
        by_address = {
            tier_address(t, i): lb.name
            for t, lbs in enumerate(self.tiers.values())
            for i, lb in enumerate(lbs, start=1)
        }
        out.update(self.instance_faults.counters(self.recorder))
        for record in self.recorder.connections:
            if record.side == "backend":
                owner = by_address.get(ip_from_str(record.src.split(":")[0]))
                if owner is not None:
                    key = f"instance.{owner}.requests"
                    out[key] = out.get(key, 0) + record.requests
        return out
