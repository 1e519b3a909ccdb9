"""Scenario models for faults and for how balancers and clients cope with them.

Theory of operation: a scenario may script *events* (a backend crashes, slows
down, returns errors; a link loses packets or goes dark; the balancer restarts;
a backend is added or removed; an instance of a topology tier fails) and may
give balancers *health checks*, layer-7 balancers *outlier detection*,
*retries* and a *panic threshold*, and clients a *timeout* and *retries*.
Defaults are those of common balancers, cited per field: HAProxy for active
checks (``inter 2s``, ``rise 2``, ``fall 3``), Envoy for outlier detection (5
consecutive 5xx, 30 s base ejection, at most 10% ejected), panic threshold (50%)
and retry budget (20%).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lbsim.scenario.bounds import MIN_HEALTH_INTERVAL
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.fields import (
    Duration,
    HttpMethod,
    Identifier,
    PositiveDuration,
    PositiveInt,
    RequestPath,
)
from lbsim.scenario.units import format_duration, parse_duration

EventAction = Literal[
    "crash",
    "recover",
    "slowdown",
    "errors",
    "loss",
    "outage",
    "restart_balancer",
    "add_backend",
    "remove_backend",
    "fail_instance",
]

#: Which keys each event action needs (beyond ``at`` and ``action``).
EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "crash": ("backend",),
    "recover": ("backend",),
    "slowdown": ("backend", "factor"),
    "errors": ("backend", "rate"),
    "loss": ("link", "rate"),
    "outage": ("link", "until"),
    "restart_balancer": (),
    "add_backend": ("group",),
    "remove_backend": ("backend",),
    "fail_instance": ("instance",),
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class EventConfig(_Model):
    """Something that happens at a scheduled time, in every balancer variant.

    Attributes:
        at: When, seconds of simulated time.
        action: What: ``crash``, ``recover``, ``slowdown``, ``errors``, ``loss``,
            ``outage``, ``restart_balancer``, ``add_backend``, ``remove_backend``,
            ``fail_instance``.
        backend: The backend instance (``web-2``) for backend events.
        mode: ``crash`` and ``fail_instance``: ``reset`` (open connections get
            RST, new ones are refused) or ``silent`` (the host vanishes: every
            packet is lost).
        factor: ``slowdown``: service times are multiplied by this (1 restores).
        rate: ``errors``: fraction of responses that are 500 (0 restores);
            ``loss``: fraction of packets lost on the links (0 restores).
        link: ``loss``/``outage``: which links: ``client`` side, ``backend`` side
            or ``all``.
        client: Narrows client-side links to one client group.
        until: ``outage``: when the links come back.
        downtime: ``restart_balancer``: how long it answers nothing while restarting.
        group: ``add_backend``: the group the new instance joins.
        instance: ``fail_instance``: the balancer instance of a ``topology:`` tier
            that fails (``<tier>-<i>``, see :mod:`lbsim.scenario.instance_faults`).
    """

    at: Duration
    action: EventAction
    backend: str | None = None
    mode: Literal["reset", "silent"] | None = None
    factor: float | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, ge=0, le=1)
    link: Literal["client", "backend", "all"] | None = None
    client: Identifier | None = None
    until: Duration | None = None
    downtime: Duration | None = None
    group: Identifier | None = None
    instance: str | None = None

    @model_validator(mode="after")
    def _check_keys(self) -> Self:
        needed = EVENT_KEYS[self.action]
        for key in needed:
            if getattr(self, key) is None:
                raise KeyedValueError(key, f"required for a {self.action} event")
        allowed = {*needed, "at", "action"}
        if self.action in ("crash", "fail_instance"):
            allowed.add("mode")
        if self.action in ("loss", "outage"):
            allowed.add("client")
        if self.action == "restart_balancer":
            allowed.add("downtime")
        optional = ("backend", "mode", "factor", "rate", "link", "client", "until", "downtime")
        for key in (*optional, "group", "instance"):
            if key not in allowed and getattr(self, key) is not None:
                raise KeyedValueError(key, f"does not apply to a {self.action} event")
        if self.until is not None and self.until <= self.at:
            raise KeyedValueError("until", "must be later than at")
        if self.action == "loss" and self.rate is not None and self.rate >= 1:
            raise KeyedValueError("rate", "must be below 1 (use an outage to lose everything)")
        return self


class HealthCheckConfig(_Model):
    """Active health checks a balancer runs against each backend.

    Attributes:
        kind: ``tcp`` (a connection opens) or ``http`` (``GET path`` answers 200).
        path: The request path of ``http`` checks.
        interval: Time between checks of one backend (HAProxy ``inter``: 2 s).
        timeout: A check not answered this fast fails (HAProxy uses ``inter``).
        rise: Consecutive successes that mark a down backend up (HAProxy: 2).
        fall: Consecutive failures that mark an up backend down (HAProxy: 3).
    """

    kind: Literal["tcp", "http"] = "tcp"
    path: RequestPath = "/health"
    interval: PositiveDuration = parse_duration("2s")
    timeout: PositiveDuration = parse_duration("1s")
    rise: PositiveInt = 2
    fall: PositiveInt = 3

    @model_validator(mode="after")
    def _check_interval(self) -> Self:
        if self.interval < MIN_HEALTH_INTERVAL:
            raise KeyedValueError(
                "interval",
                f"must be at least {format_duration(MIN_HEALTH_INTERVAL)}, got "
                f"{format_duration(self.interval)}: every check is a connection to every "
                "backend (HAProxy checks every 2 s)",
            )
        return self


class OutlierConfig(_Model):
    """Passive outlier detection at a layer-7 balancer (Envoy's defaults).

    Attributes:
        consecutive_5xx: Consecutive 5xx answers (or failed connections) that eject
            a backend.
        base_ejection: Ejection time; the n-th ejection of a backend lasts n times it.
        max_ejection_percent: At most this share of backends is ejected at once
            (at least one may always be).
    """

    consecutive_5xx: PositiveInt = 5
    base_ejection: PositiveDuration = parse_duration("30s")
    max_ejection_percent: float = Field(default=10.0, gt=0, le=100)


class RetryConfig(_Model):
    """Layer-7 retries of failed requests on another backend.

    Attributes:
        attempts: Retries after the first try.
        per_try_timeout: A try not answered this fast is abandoned (and retried).
        budget: Retries in progress may be at most this share of requests in
            progress (Envoy's retry budget: 20%; at least 3 are always allowed).
        methods: Methods retried (idempotent ones; add POST deliberately).
        on_5xx: Also retry when a backend answers 5xx.
    """

    attempts: PositiveInt = 2
    per_try_timeout: PositiveDuration | None = None
    budget: float = Field(default=0.2, gt=0, le=1)
    methods: tuple[HttpMethod, ...] = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
    on_5xx: bool = True


def check_event_targets(
    events: tuple[EventConfig, ...], backends: list[str], groups: list[str], clients: list[str]
) -> None:
    """Check that events name existing backends, groups and client groups.

    Backends added by ``add_backend`` events count from their time on, named
    ``<group>-<next number>``.

    Raises:
        KeyedValueError: Naming the first event key that is wrong.
    """
    known = list(backends)
    counts: dict[str, int] = {}
    for name in backends:
        group, _, _ = name.rpartition("-")
        counts[group] = counts.get(group, 0) + 1
    for index, event in sorted(enumerate(events), key=lambda pair: pair[1].at):
        if event.action == "add_backend" and event.group is not None:
            if event.group not in groups:
                raise KeyedValueError(
                    ("events", index, "group"),
                    f'no backend group "{event.group}" (groups: {", ".join(groups)})',
                )
            counts[event.group] = counts.get(event.group, 0) + 1
            known.append(f"{event.group}-{counts[event.group]}")
        if event.backend is not None and event.backend not in known:
            raise KeyedValueError(
                ("events", index, "backend"),
                f'no backend "{event.backend}" at {event.at:g} s (backends: {", ".join(known)})',
            )
        if event.client is not None and event.client not in clients:
            raise KeyedValueError(
                ("events", index, "client"),
                f'no client group "{event.client}" (client groups: {", ".join(clients)})',
            )
