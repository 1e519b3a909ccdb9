"""Which stacks of balancer tiers a topology run composes, and where each TCP path ends.

Theory of operation: tiers are crossed in order. A tier either **forwards
packets** (layer 4, ``nat`` or ``dsr``: the client's TCP connection passes through
it) or **terminates TCP** (layer 4 ``proxy``, layer 7: it accepts the connection
and opens its own towards what it balances over). That decides who the clients
and the backends of each tier are:

* packet-forwarding tiers come first: their clients are the client hosts, which
  connect to the VIP (or, with ``reach: dns``, to an instance's own address);
* a terminating tier's clients are the client hosts, or, behind another
  terminating tier, that tier's instances (which connect to the instance's own
  address, port 8080, as to a backend);
* every tier but the last balances over the next tier's instances; the last one
  over the backends of its services.

Supported, so: any run of ``dsr`` tiers and at most one ``nat`` tier, then any
run of terminating tiers (edge proxy -> service-mesh sidecar -> service), the
last tier being of any kind. A ``dsr`` last tier reaches its backends through
their service's router by encapsulation (:mod:`lbsim.run.encap`); the backends
answer the clients directly.

**Return path of NAT.** A NAT instance must see the replies of the connections it
placed (it rewrites their source back to the VIP). With one instance the routers
send every reply to it. With several, routing by the client's address cannot
tell which instance holds a connection, and real deployments solve it either by
full NAT (IPVS FULLNAT, cloud network balancers: the instance also rewrites the
source to its own address, so replies come back to it -- and the backend no longer
sees the client's address) or by symmetric flow hashing at a router on both
sides. Full NAT is modelled (``source_nat: true`` on the tier,
:mod:`lbsim.lb.snat`), chosen because it needs nothing of the routers -- ordinary
routing by destination brings each reply to the instance whose address it
carries -- and it is what IPVS and cloud network balancers do; its cost, the
backend seeing the instance's address instead of the client's, is visible in the
results. A NAT tier of several instances without it is refused with the reason
(exit 2); ``dsr`` (replies bypass the tier) and ``proxy`` (the instance owns both
connections) scale out too.

**TLS through tiers.** The client hosts' TLS goes to the VIP's port 443. A layer-4
tier of any mode passes it on unopened (a proxy splices it to port 8443 of what it
balances over, as it does to a backend's): TLS runs end to end to the first layer-7
tier, which must hold the certificate (``tls``) and ends it there -- the handshake's
round trips span every leg in between and its CPU is paid by that tier. A layer-7
tier sends plain HTTP behind it, or, with ``tls.reencrypt``, is a TLS client of
what it balances over (then the next layer-7 tier needs a certificate too, and a
last tier's backends end it). Instances behind a NAT or terminating tier listen on
their own address at 8080 and 8443 for what they accept on the VIP at 80 and 443
(:func:`lbsim.run.tier_wiring.compose_tiers`). :func:`tls_reaches` says which
tiers TLS arrives at; a layer-7 one without a certificate is refused.

**Not run: a packet-forwarding tier behind a terminating one** (an L7 edge in
front of an internal L4 VIP). It would need three things the run does not have: an
internal VIP per tier that the tier in front connects to (its instances connect to
the next tier's instance addresses, port 8080, as to backends; a NAT instance maps
the VIP's ports 80 and 443 only), ECMP at whatever sits between the two tiers when
the L4 tier has several instances, and a return path -- for plain NAT, routes at
the services' routers that send replies for the front instances' addresses back
through the NAT instance (routers route through routers only), for DSR a path from
the backends to the front tier that bypasses the L4 tier. A layer-4 ``proxy`` tier
in the same place places each connection the same way, so it is what the refusal
suggests. A ``nat`` tier in front of a ``nat`` or ``dsr`` tier is refused for the
same reason: it rewrites the VIP to an instance address, which the tier behind
does not serve.

:func:`check_composition` refuses what is not run, naming the key path.
"""

from __future__ import annotations

from lbsim.scenario import Scenario
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.schema import BalancerConfig
from lbsim.scenario.topology import VARIANT, TopologyConfig

__all__ = [
    "check_composition",
    "client_origin",
    "hides_clients",
    "terminates",
    "tls_reaches",
]


def terminates(cfg: BalancerConfig) -> bool:
    """Whether a tier of this balancer accepts TCP itself (proxy or layer 7)."""
    return cfg.layer == 7 or cfg.mode == "proxy"


def hides_clients(configs: list[BalancerConfig], topo: TopologyConfig, t: int) -> bool:
    """Whether tier ``t`` opens connections (or source-NATs them) from its own address."""
    return terminates(configs[t]) or (configs[t].mode == "nat" and topo.tiers[t].source_nat)


def client_origin(configs: list[BalancerConfig], topo: TopologyConfig, t: int) -> int | None:
    """The tier whose instances are tier ``t``'s clients, or None for the client hosts."""
    if t > 0 and hides_clients(configs, topo, t - 1):
        return t - 1
    return None


def _refuse(path: str, message: str) -> None:
    raise ScenarioError("<scenario>", path, message)


def check_composition(scenario: Scenario, configs_of: list[list[BalancerConfig]]) -> None:
    """Refuse tier stacks that are not run (see the module docstring).

    Args:
        scenario: The scenario (with a topology).
        configs_of: Each variant's balancer entry of every tier, in tier order.

    Raises:
        ScenarioError: File ``<scenario>``, on the first stack that is not run.
    """
    topo = scenario.topology
    assert topo is not None
    for v, configs in enumerate(configs_of):
        for t, cfg in enumerate(configs):
            _check_tier(scenario, topo, configs, t, cfg)
        _check_tls(scenario, configs, v)
        _check_front_health(topo, configs, v)


def tls_reaches(scenario: Scenario, configs: list[BalancerConfig]) -> list[bool]:
    """Whether TLS arrives at each tier (see "TLS through tiers" in the module docstring).

    The client hosts' TLS (any group's) reaches the first tier; a layer-4 tier of any
    mode passes what it receives on unopened; a layer-7 tier ends TLS and sends it on
    only if it re-encrypts (``tls.reencrypt``).
    """
    out = []
    arriving = any(client.tls is not None for client in scenario.clients)
    for cfg in configs:
        out.append(arriving)
        if cfg.layer == 7:
            arriving = cfg.tls is not None and cfg.tls.reencrypt
    return out


def _check_front_health(topo: TopologyConfig, configs: list[BalancerConfig], v: int) -> None:
    """A tier in front checks the next tier's instances by TCP connects only."""
    for t, cfg in enumerate(configs[:-1]):
        hc = cfg.health_check
        if hc is not None and hc.kind == "http":
            where = _where(t) if topo.tiers[t].balancer != VARIANT else f"balancers.{v}"
            _refuse(
                f"{where}.health_check.kind",
                f'tier "{topo.tiers[t].name}" checks the next tier\'s instances, which are '
                "balancers: an http probe would be forwarded to a backend; use kind: tcp "
                "(a connection to the instance's listener)",
            )


def _check_tls(scenario: Scenario, configs: list[BalancerConfig], v: int) -> None:
    """A layer-7 tier that TLS reaches must hold the certificate to read the requests."""
    topo = scenario.topology
    assert topo is not None
    for t, (cfg, reached) in enumerate(zip(configs, tls_reaches(scenario, configs), strict=True)):
        if reached and cfg.layer == 7 and cfg.tls is None:
            front = "the client hosts" if t == 0 else f'tier "{topo.tiers[t - 1].name}"'
            where = _where(t) if topo.tiers[t].balancer != VARIANT else f"balancers.{v}.layer"
            _refuse(
                where,
                f'TLS from {front} reaches layer-7 tier "{topo.tiers[t].name}", which must '
                "decrypt requests to read them, so it needs the certificate (concept C20): add "
                "tls: {key: ecdsa_p256} to its balancer",
            )


def _where(t: int) -> str:
    return f"topology.tiers.{t}.balancer"


def _check_tier(
    scenario: Scenario,
    topo: TopologyConfig,
    configs: list[BalancerConfig],
    t: int,
    cfg: BalancerConfig,
) -> None:
    tier = topo.tiers[t]
    last = t == len(configs) - 1
    if tier.source_nat and cfg.mode != "nat":
        _refuse(
            f"topology.tiers.{t}.source_nat",
            f"source NAT (full NAT) is a mode of a layer-4 nat tier, not of mode "
            f"{cfg.mode or 'none'} at layer {cfg.layer}; remove source_nat",
        )
    if not terminates(cfg):
        if last and cfg.mode == "dsr":
            _check_tunnels(topo, t)
        if cfg.mode == "nat" and tier.instances > 1 and not tier.source_nat:
            _refuse(
                f"topology.tiers.{t}.instances",
                "a NAT tier of several instances needs source_nat: true (full NAT): a "
                "backend's reply must come back through the instance holding the "
                "connection, and routing by the client's address cannot find it; or use "
                "mode dsr or proxy, or 1 instance",
            )
        if any(terminates(c) for c in configs[:t]):
            _refuse(
                _where(t),
                f"a layer-4 {cfg.mode} tier behind a proxy or layer-7 tier is not run: the "
                "tier in front connects to instance addresses, not to an internal VIP, and "
                "the backends' replies would have to return through the nat instance or "
                "past the dsr tier, routes the topology does not set up; use mode proxy "
                "(it places each connection the same way, from its own address)",
            )
        if not last and cfg.mode == "nat" and not terminates(configs[t + 1]):
            _refuse(
                _where(t),
                "a nat tier in front of a nat or dsr tier is not run (it rewrites the VIP "
                "to an instance's address); use mode dsr, or a proxy or layer-7 tier behind",
            )
        if t == 0 and topo.reach == "dns" and cfg.mode == "dsr":
            _refuse(
                "topology.tiers.0.reach",
                "dns reach with a dsr first tier is not run (whatever is behind would have "
                "to hold every instance's address); use ecmp, or a nat, proxy or layer-7 tier",
            )
        return
    if not last:
        nxt = topo.tiers[t + 1].name
        named = [*(cfg.groups or ()), *(r.group for r in cfg.routes or ())]
        stray = [g for g in named if g != nxt]
        if stray:
            _refuse(
                _where(t),
                f'a tier in front of tier "{nxt}" balances over its instances (group '
                f'"{nxt}"); groups or routes naming "{stray[0]}" are not run; leave them out '
                "or name the next tier",
            )


def _check_tunnels(topo: TopologyConfig, t: int) -> None:
    """A dsr last tier tunnels to its backends at their service's router: it needs a link."""
    from lbsim.scenario.topology_graph import build_graph, forwarding_path

    graph = build_graph(topo)
    name = topo.tiers[t].name
    for service in topo.services:
        if forwarding_path(graph, name, service.name)[1] != service.name:
            _refuse(
                _where(t),
                "a dsr last tier tunnels each packet to its backend at the service's "
                f'router; add a link from "{name}" to "{service.name}"',
            )
