"""Backend groups: identical servers with workers, a queue and a service time.

Theory of operation:
    A backend group names ``count`` identical servers ``{group}-1`` ...
    ``{group}-{count}``; each has ``workers`` that serve one request at a time for
    a ``service_time`` drawn from its distribution, and an optional bounded queue.
    Cold start (``warmup_penalty`` over ``warmup_window``) and load reports are
    per-group settings; the two warm-up keys are checked together.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from lbsim.scenario.bounds import check_bound
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.features import KeyType
from lbsim.scenario.fields import (
    Duration,
    Identifier,
    NonNegativeInt,
    PositiveDuration,
    PositiveFloat,
    PositiveInt,
    TimeDistribution,
)
from lbsim.scenario.schema.base import SchemaModel

__all__ = ["BackendGroup"]


class BackendGroup(SchemaModel):
    """A group of identical backend servers.

    Attributes:
        group: Group name; instances are named ``{group}-1`` ... ``{group}-{count}``.
        count: Number of servers.
        workers: Requests one server works on at the same time.
        service_time: Time a worker spends on one request, seconds.
        weight: Relative capacity, for weighted algorithms.
        queue_limit: Requests that may wait for a worker; None means unbounded.
        io_model: ``event`` (a worker is taken only once the whole request has
            arrived, like an event-driven server) or ``blocking`` (a worker is tied
            up from a request's first byte until its response is written, like a
            thread-per-connection server: slow senders hold workers).
        tls_key: Certificate key type, used when TLS ends at the backend (layer-4
            passthrough, or a layer-7 balancer that re-encrypts).
        read_only: A read replica: writes (POST, PUT, PATCH, DELETE)
            are served and answered ``405`` (the request fails as an ``error``).
        warmup_penalty: Cold start: a server's service times are this many times
            longer when it starts (added by scale out, or recovered after a crash;
            servers present at the start of the run are warm),
            the excess decaying linearly to none over ``warmup_window``.
        warmup_window: How long a server takes to warm up (with ``warmup_penalty``).
        load_report_period: Servers put their utilisation and request rate,
            measured over periods this long, on every response (ORCA-style
            ``Endpoint-Load-Metrics`` header); None reports nothing.
    """

    group: Identifier
    count: PositiveInt = 1
    workers: PositiveInt = 1
    service_time: TimeDistribution
    weight: PositiveFloat = 1.0
    queue_limit: NonNegativeInt | None = None
    io_model: Literal["event", "blocking"] = "event"
    tls_key: KeyType = "ecdsa_p256"
    read_only: bool = False
    # --- cold start (warm-up penalty of a new server) ---
    warmup_penalty: float = Field(default=1.0, ge=1.0, le=100.0)
    warmup_window: Duration = 0.0
    # --- load reports (read by a layer-7 balancer with weights_from_reports) ---
    load_report_period: PositiveDuration | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        check_bound("count", "backends", self.count)
        check_bound("workers", "workers", self.workers)
        return self

    @model_validator(mode="after")
    def _check_warmup(self) -> Self:
        if self.warmup_penalty != 1.0 and self.warmup_window <= 0.0:
            raise KeyedValueError(
                "warmup_window",
                "must be a duration > 0 when warmup_penalty is set: the time over which "
                "a cold server's extra service time fades out (e.g. 10s)",
            )
        return self

    def instance_names(self) -> tuple[str, ...]:
        """Names of this group's servers: ``web-1``, ``web-2``, ...

        Returns:
            ``count`` names in order.
        """
        return tuple(f"{self.group}-{index}" for index in range(1, self.count + 1))
