"""Layer-7 retries and outlier hooks: which backends a try may use, when to try again.

Theory of operation: a request that reached the routing stage becomes an
:class:`Attempt`: its rule, its headers and the backends it was tried on. Each try
picks among the rule's backends that are usable now (healthy, not ejected, not
draining; all of them below the panic threshold), preferring ones this request
has not failed on. A failed try (5xx with ``on_5xx``, a reset or closed upstream,
a per-try timeout) is retried while the method is retryable, tries remain and
the retry budget -- a share of the requests in progress, at least 3 -- allows.
Every failure is reported to outlier detection, which may eject the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from lbsim.app.http import HttpRequest
from lbsim.host.stack import TcpStack
from lbsim.lb.backends import BackendRef, usable
from lbsim.lb.outlier import OutlierDetector
from lbsim.lb.routing import Rule
from lbsim.scenario.faults import RetryConfig

if TYPE_CHECKING:
    from lbsim.lb.l7 import ClientSide
    from lbsim.lb.l7_upstream import Upstream
    from lbsim.records import Recorder


class Attempt:
    """How a request in progress has been tried so far."""

    __slots__ = ("headers", "retrying", "rule", "tried", "tries")

    def __init__(self, rule: Rule, headers: dict[str, str]) -> None:
        self.rule = rule
        self.headers = headers
        self.tried: set[str] = set()
        self.tries = 0
        self.retrying = False


class Retries:
    """The retry half of :class:`~lbsim.lb.l7.L7Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what retries use of the proxy (declared for type checking only)
        env: simpy.Environment
        name: str
        recorder: Recorder
        stack: TcpStack
        retries: RetryConfig | None
        outlier: OutlierDetector | None
        panic_threshold: float | None
        impaired: bool
        retried: int
        retries_active: int
        _attempts: dict[str, Attempt]

        def _forward(self, client: ClientSide, req: HttpRequest, now: float) -> None: ...

    def candidates(
        self, rule: Rule, now: float, exclude: set[str] | None = None
    ) -> list[BackendRef]:
        """The backends of ``rule`` this request may go to now.

        All of them while nothing is wrong; otherwise the usable ones (healthy, not
        ejected, not draining) -- or, below the panic threshold, all but draining
        ones -- preferring backends this request has not failed on yet.
        """
        backends = rule.backends
        if self.impaired:
            backends = usable(backends, now, self.panic_threshold)
        if exclude:
            fresh = [b for b in backends if b.name not in exclude]
            if fresh:
                return fresh
        return backends

    # --------------------------------------------------------------- faults

    def try_timeout(self, upstream: Upstream, try_number: int) -> None:
        """A try took longer than ``per_try_timeout``: abandon its connection."""
        if upstream.requests == try_number and upstream.request is not None and upstream.conn:
            upstream.timed_out = True
            upstream.conn.abort(self.env.now)
            self.stack.flush(upstream.conn)

    def _backend_failed(self, backend: BackendRef, now: float) -> None:
        outlier = self.outlier
        if outlier is not None and outlier.failure(backend, now):
            self.impaired = True
            self.recorder.decide(
                now, self.name, "ejected", backend=backend.name, failures=outlier.consecutive,
                ms=round((backend.ejected_until - now) * 1000),
            )  # fmt: skip

    def _may_retry(self, req: HttpRequest) -> bool:
        """Whether a failed try of ``req`` may be retried (policy, attempts, budget)."""
        cfg = self.retries
        attempt = self._attempts.get(req.request_id)
        if cfg is None or attempt is None or req.method not in cfg.methods:
            return False
        if attempt.tries > cfg.attempts:
            return False
        if not attempt.retrying:
            budget = max(3.0, cfg.budget * len(self._attempts))
            if self.retries_active >= budget:
                return False
        return True

    def _retry(self, client: ClientSide, req: HttpRequest, now: float) -> None:
        attempt = self._attempts[req.request_id]
        if not attempt.retrying:
            attempt.retrying = True
            self.retries_active += 1
        self.retried += 1
        self._forward(client, req, now)

    def _done(self, req: HttpRequest) -> None:
        """``req`` has its final answer: forget its tries."""
        attempt = self._attempts.pop(req.request_id, None)
        if attempt is not None and attempt.retrying:
            self.retries_active -= 1
