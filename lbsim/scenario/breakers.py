"""Scenario model of layer-7 circuit breakers (one set of limits per backend group).

Theory of operation: a circuit breaker in Envoy's sense is not a state machine
that opens after failures (that is outlier detection) but a set of *concurrency
limits* per upstream cluster; a request that would exceed one is answered 503 at
once instead of being queued (Envoy's ``circuit_breakers.thresholds``:
``max_requests``, ``max_pending_requests``). lbsim keeps one set per backend group,
named under the balancer's ``circuit_breakers`` key. This module holds only the
validated settings; the engine side is :mod:`lbsim.lb.breaker`.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from lbsim.scenario.fields import NonNegativeInt, PositiveInt

__all__ = ["CircuitBreakerConfig"]


class CircuitBreakerConfig(BaseModel):
    """Concurrency limits of one backend group at a layer-7 balancer.

    Attributes:
        max_requests: Requests at most in progress to the group's backends at
            once (sent or waiting for a pooled connection); one more is refused.
        max_pending_requests: Requests at most waiting for a pooled connection to
            the group (only with ``pool.max``); one more is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_requests: PositiveInt | None = None
    max_pending_requests: NonNegativeInt | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.max_requests is None and self.max_pending_requests is None:
            raise ValueError("give max_requests, max_pending_requests or both")
        return self
