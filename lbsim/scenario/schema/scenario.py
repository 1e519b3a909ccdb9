"""The top-level scenario, and the checks that span the whole file.

Theory of operation:
    :class:`Scenario` holds the sections of a file (``tcp``, ``network``,
    ``backends``, ``clients``, ``balancers``, ``events``, ``figures``,
    ``topology``). Each section has validated itself; what remains are references
    across sections: names are unique, every group a balancer or an event names
    exists, the warm-up ends before the run, a layer-7 balancer in front of TLS
    clients holds a certificate and never faces a raw byte protocol, and a
    ``topology:`` is consistent with the rest (``topology_graph.py``).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from lbsim.scenario.bounds import check_bound
from lbsim.scenario.dump import dump_yaml
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.faults import EventConfig, check_event_targets
from lbsim.scenario.fields import Duration, NonNegativeInt, PositiveDuration, Text
from lbsim.scenario.figure_names import DEFAULT_FIGURES, FIGURE_NAMES
from lbsim.scenario.schema.backends import BackendGroup
from lbsim.scenario.schema.balancer import BalancerConfig
from lbsim.scenario.schema.base import SchemaModel
from lbsim.scenario.schema.clients import ClientGroup
from lbsim.scenario.schema.network import NetworkConfig, TcpConfig
from lbsim.scenario.topology import TopologyConfig
from lbsim.scenario.units import format_duration, parse_duration

__all__ = ["Scenario"]


class Scenario(SchemaModel):
    """A complete, validated and fully resolved scenario.

    Attributes:
        name: Scenario name.
        description: One-line description.
        seed: Seed of all random streams of the run.
        duration: Arrivals stop at this time; in-flight work then drains, seconds.
        warmup: Initial period excluded from statistics, seconds.
        drain: How long after ``duration`` in-flight requests may still finish; the
            rest end as ``timeout``, seconds.
        tcp: TCP parameters.
        network: Links.
        backends: Backend groups.
        clients: Client groups.
        balancers: Balancer variants, each run on the same workload.
        events: Scheduled faults and changes (crashes, slowdowns, errors, loss,
            outages, balancer restarts, backends added or removed).
        figures: Figures ``lbsim run`` draws, by name (see ``figure_names.py``).
    """

    name: Text
    description: str = Field(default="", strict=True)
    seed: NonNegativeInt = 1
    duration: PositiveDuration
    warmup: Duration = 0.0
    drain: Duration = parse_duration("30s")
    tcp: TcpConfig = TcpConfig()
    network: NetworkConfig
    backends: tuple[BackendGroup, ...] = Field(min_length=1)
    clients: tuple[ClientGroup, ...] = Field(min_length=1)
    balancers: tuple[BalancerConfig, ...] = Field(min_length=1)
    events: tuple[EventConfig, ...] = ()
    fidelity: Literal["segment", "request"] = "segment"  # see docs/design.md "Request level"

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        check_bound("seed", "seed", self.seed)
        check_bound("duration", "duration", self.duration)
        if self.warmup >= self.duration:
            raise KeyedValueError(
                "warmup",
                f"must be shorter than duration ({format_duration(self.duration)}), "
                f"got {format_duration(self.warmup)}",
            )
        _check_unique("backends", [group.group for group in self.backends], "group")
        _check_unique("clients", [client.name for client in self.clients], "name")
        _check_unique("balancers", [balancer.name for balancer in self.balancers], "name")
        known = [group.group for group in self.backends]
        check_event_targets(
            self.events, list(self.backend_names()), known, [c.name for c in self.clients]
        )
        for index, balancer in enumerate(self.balancers):
            for position, group in enumerate(balancer.groups or ()):
                _check_group(("balancers", index, "groups", position), group, known)
            for position, route in enumerate(balancer.routes or ()):
                _check_group(("balancers", index, "routes", position, "group"), route.group, known)
            for group in balancer.circuit_breakers or {}:
                _check_group(("balancers", index, "circuit_breakers", group), group, known)
            # In a topology TLS may end at a tier in front of this one: the run checks
            # which layer-7 tiers TLS reaches (lbsim.run.compose).
            if balancer.layer == 7 and balancer.tls is None and self.topology is None:
                for client in self.clients:
                    if client.tls is not None:
                        raise KeyedValueError(
                            ("balancers", index, "layer"),
                            f'client group "{client.name}" uses TLS, and a layer-7 '
                            "balancer must decrypt requests to read them, so it needs "
                            "the certificate (concept C20): add tls: {key: ecdsa_p256} "
                            "to this balancer",
                        )
            if balancer.block is not None:
                names = [c.name for c in self.clients]
                for position, blocked in enumerate(balancer.block.clients):
                    if blocked not in names:
                        raise KeyedValueError(
                            ("balancers", index, "block", "clients", position),
                            f'no client group "{blocked}" (client groups: {", ".join(names)})',
                        )
            if balancer.layer == 7:
                for client in self.clients:
                    if client.protocol == "raw":
                        raise KeyedValueError(
                            ("balancers", index, "layer"),
                            f"a layer-7 balancer must parse every request to balance it, but "
                            f'client group "{client.name}" speaks a raw byte protocol it '
                            "cannot parse (concept C20); use layer: 4, which passes any "
                            "protocol through",
                        )
        return self

    # --- figures: which figures ``lbsim run`` draws (names in figure_names.py) ---
    figures: tuple[str, ...] = Field(default=DEFAULT_FIGURES, min_length=1)

    @field_validator("figures", mode="after")
    @classmethod
    def _check_figures(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            if name not in FIGURE_NAMES:
                raise KeyedValueError(
                    (index,), f'no figure "{name}" (figures: {", ".join(FIGURE_NAMES)})'
                )
            if name in names[:index]:
                raise KeyedValueError((index,), f'figure "{name}" is listed twice')
        return names

    # --- end of figures ---

    # --- topology: a layered deployment instead of the star (topology.py) ---
    topology: TopologyConfig | None = None

    @model_validator(mode="after")
    def _check_topology(self) -> Self:
        from lbsim.scenario.topology_graph import check_topology

        check_topology(self)
        return self

    # --- end of topology ---

    def backend_names(self) -> tuple[str, ...]:
        """Names of all backend servers in order: ``web-1, web-2, pictures-1, ...``.

        Returns:
            One name per server, group by group.
        """
        return tuple(name for group in self.backends for name in group.instance_names())

    def to_yaml(self) -> str:
        """Render the resolved scenario as YAML with units, loadable again.

        Returns:
            YAML text; loading it gives a scenario equal to this one.
        """
        return dump_yaml(self)


def _check_unique(section: str, names: list[str], key: str) -> None:
    for index, name in enumerate(names):
        if name in names[:index]:
            raise KeyedValueError(
                (section, index, key),
                f'"{name}" is already used by another entry of {section}; names must be unique',
            )


def _check_group(loc: tuple[str | int, ...], group: str, known: list[str]) -> None:
    if group not in known:
        raise KeyedValueError(
            loc, f'no backend group "{group}" (backend groups: {", ".join(known)})'
        )
