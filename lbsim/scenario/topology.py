"""The ``topology:`` section of a scenario: sites, routers, balancer tiers, services, links.

Theory of operation:
    Without a ``topology:`` a scenario is a star: every client host and every backend
    has its own pair of links to the one balancer of the variant being run. A
    topology describes a layered deployment instead, as a graph whose nodes are

    * **sites**: where client groups live; each site has its own access link (the
      link of every client host of the site to the site's first hop);
    * **routers**: forwarding nodes; a router in front of a tier whose ``reach`` is
      ``ecmp`` spreads flows over the tier's instances by hashing the 5-tuple;
    * **tiers**: one balancer configuration run as ``instances`` independent
      balancers (each its own CPU, table, pools and cache). ``reach`` says how
      clients find an instance of the first tier: ``ecmp`` (a router hashes the
      5-tuple), ``dns`` (clients pick an instance's address round robin) or ``vip``
      (one instance owns the address; ``instances`` must be 1). The instances of a
      later tier are what the tier in front of it balances over;
    * **services**: named sets of backend groups that the last tier balances over;

    and whose edges, ``links``, are written ``from`` -> ``to`` in the direction
    requests travel (replies come back over the same links), each with the settings
    of a link (latency, bandwidth, MTU, queue, loss).

    **Variants.** The scenario's ``balancers:`` list keeps its meaning: each entry
    is one variant, and every variant runs on the same workload (the same client
    hosts, backends, links and random streams, so variants are compared with common
    random numbers). Exactly one tier says ``balancer: variant``: in each variant's
    run that tier's instances are that variant's balancer. Every other tier gives
    its balancer inline (a balancer entry without ``name``; it is named after the
    tier) and is the same in every variant. A variant is therefore a whole
    topology that differs from the others in one tier.

    This module only checks each entry and the names it refers to inside the
    section; the graph checks (connected, every site reaches the first tier, each
    tier reaches the next one or its services, no forwarding loop) are made on the
    networkx graph by :mod:`lbsim.scenario.topology_graph`, called by
    :class:`~lbsim.scenario.schema.Scenario`'s validation.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.fields import Bandwidth, Duration, Identifier, PositiveInt, Size
from lbsim.scenario.units import parse_duration, parse_size

__all__ = [
    "VARIANT",
    "ClientSite",
    "Router",
    "ServiceConfig",
    "TierConfig",
    "TopologyConfig",
    "TopologyLink",
]

#: The value of a tier's ``balancer`` that means "each variant's balancer goes here".
VARIANT = "variant"

#: How traffic reaches a tier's instances.
Reach = Literal["ecmp", "dns", "vip"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TopologyLinkSettings(_Model):
    """Settings of one link (as :class:`~lbsim.scenario.schema.LinkConfig`)."""

    latency: Duration = parse_duration("0.1ms")
    bandwidth: Bandwidth = 10e9
    mtu: int = Field(default=1500, ge=576, le=65535, strict=True)
    queue: Size = parse_size("1MB")
    loss: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_queue(self) -> Self:
        if self.queue < self.mtu:
            raise KeyedValueError("queue", f"must hold at least one packet (mtu = {self.mtu}B)")
        return self


class ClientSite(_Model):
    """Where client groups live.

    Attributes:
        name: Node name.
        clients: The client groups of the site (each group in exactly one site).
        access: Link settings between each client host and the site's first hop.
    """

    name: Identifier
    clients: tuple[Identifier, ...] = Field(min_length=1)
    access: TopologyLinkSettings


class Router(_Model):
    """A forwarding node (ECMP happens at a router).

    Attributes:
        name: Node name.
    """

    name: Identifier


class TierConfig(_Model):
    """One balancer tier: one balancer configuration run as several instances.

    Attributes:
        name: Node name (and the name of the inline balancer).
        balancer: ``variant`` (each variant's balancer) or an inline balancer entry
            without ``name``; it stays a raw mapping here and is validated as a
            :class:`~lbsim.scenario.schema.BalancerConfig` by the scenario.
        instances: Independent balancers of the tier.
        reach: How clients reach an instance of the first tier: ``ecmp``, ``dns``
            or ``vip`` (the default). Later tiers leave it out: the tier in front
            balances over their instances as over backends.
        dns_ttl: With ``reach: dns``, how long a client host keeps an answer
            (:mod:`lbsim.run.dns`); 0 resolves for every connection.
        source_nat: A layer-4 ``nat`` tier also rewrites the client's source to the
            instance's own address (full NAT, :mod:`lbsim.lb.snat`), so replies come
            back to the instance that holds the connection: what lets a NAT tier
            have several instances. Backends then see the instance's address.
    """

    name: Identifier
    balancer: Any = Field(default=VARIANT)
    instances: PositiveInt = 1
    reach: Reach | None = Field(default=None)
    dns_ttl: Duration = parse_duration("60s")
    source_nat: bool = False

    @field_validator("balancer", mode="before")
    @classmethod
    def _check_balancer(cls, value: object) -> object:
        if value == VARIANT:
            return value
        if not isinstance(value, dict):
            raise ValueError(
                f'must be "{VARIANT}" (each variant\'s balancer sits here) or an inline '
                "balancer entry (layer, algorithm, ...)"
            )
        if "name" in value:
            raise KeyedValueError("name", "an inline balancer is named after its tier; remove name")
        return value


class ServiceConfig(_Model):
    """A set of backend groups the last tier balances over.

    Attributes:
        name: Node name.
        groups: Backend groups (``backends:`` entries) of the service.
    """

    name: Identifier
    groups: tuple[Identifier, ...] = Field(min_length=1)


class TopologyLink(TopologyLinkSettings):
    """An edge of the topology, in the direction requests travel.

    Attributes:
        from_: Node requests come from (key ``from``).
        to: Node requests go to.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    from_: Identifier = Field(alias="from")
    to: Identifier


class TopologyConfig(_Model):
    """A layered deployment (see the module docstring).

    Attributes:
        sites: Client sites.
        routers: Forwarding nodes.
        tiers: Balancer tiers, in the order requests cross them.
        services: Backend groups the last tier balances over, by service.
        links: Edges, ``from`` -> ``to`` in the direction of requests.
    """

    sites: tuple[ClientSite, ...] = Field(min_length=1)
    routers: tuple[Router, ...] = ()
    tiers: tuple[TierConfig, ...] = Field(min_length=1)
    services: tuple[ServiceConfig, ...] = Field(min_length=1)
    links: tuple[TopologyLink, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        seen: dict[str, str] = {}
        for section in ("sites", "routers", "tiers", "services"):
            for index, node in enumerate(getattr(self, section)):
                if node.name in seen:
                    raise KeyedValueError(
                        (section, index, "name"),
                        f'"{node.name}" is already the name of a node in {seen[node.name]}; '
                        "node names must be unique across sites, routers, tiers and services",
                    )
                seen[node.name] = section
        variant_tiers = [i for i, t in enumerate(self.tiers) if t.balancer == VARIANT]
        if len(variant_tiers) != 1:
            where = ", ".join(self.tiers[i].name for i in variant_tiers) or "none"
            raise KeyedValueError(
                "tiers",
                f"exactly one tier must say balancer: {VARIANT} (each balancers: entry is "
                f"a variant and runs there); found {where}",
            )
        self._check_reach()
        for index, link in enumerate(self.links):
            for key, end in (("from", link.from_), ("to", link.to)):
                if end not in seen:
                    raise KeyedValueError(
                        ("links", index, key),
                        f'no node "{end}" (nodes: {", ".join(seen)})',
                    )
            if link.from_ == link.to:
                raise KeyedValueError(("links", index, "to"), "a link joins two different nodes")
        return self

    def _check_reach(self) -> None:
        for index, tier in enumerate(self.tiers):
            if index > 0 and tier.reach is not None:
                raise KeyedValueError(
                    ("tiers", index, "reach"),
                    f'only the first tier has a reach; tier "{self.tiers[index - 1].name}" '
                    "in front balances over this tier's instances; remove reach",
                )
        first = self.tiers[0]
        if self.reach == "vip" and first.instances != 1:
            raise KeyedValueError(
                ("tiers", 0, "reach"),
                f"a single VIP reaches one instance, but the tier has {first.instances}; "
                "use ecmp (a router hashes flows over instances) or dns (clients pick)",
            )

    @property
    def reach(self) -> Reach:
        """How clients reach the first tier's instances (``vip`` unless given)."""
        return self.tiers[0].reach or "vip"

    def node_names(self) -> list[str]:
        """Every node's name: sites, routers, tiers, services, in that order."""
        sections = (self.sites, self.routers, self.tiers, self.services)
        return [node.name for section in sections for node in section]

    def variant_tier(self) -> TierConfig:
        """The tier where each variant's balancer sits."""
        return next(t for t in self.tiers if t.balancer == VARIANT)
