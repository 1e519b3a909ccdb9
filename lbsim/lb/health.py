"""Active health checks: a balancer probes each backend and stops using dead ones.

Theory of operation: every ``interval`` the balancer probes each backend from its
inside address -- a TCP connection (``tcp``: passes if the handshake completes) or
an HTTP ``GET /health`` (``http``: passes on a 200), either within ``timeout``. A
backend marked up goes down after ``fall`` consecutive failures and comes back
after ``rise`` consecutive passes, as HAProxy does; with the defaults a crashed
backend is noticed about ``fall * interval`` after it fails, and meanwhile keeps
receiving work. Probes of different backends are spread over the interval. A
passed probe is closed with RST, so checks leave no connections in TIME_WAIT.

The checker only flips :attr:`BackendRef.healthy`; the balancer decides what that
means (no new connections at L4, no new requests at L7).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from lbsim.app.http import HttpRequest
from lbsim.host.stack import PortsExhausted, TcpStack
from lbsim.lb.backends import BackendRef
from lbsim.net.addresses import BACKEND_PORT, LB_INSIDE
from lbsim.records import Recorder
from lbsim.sched import call_at
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection


class _Instant:
    """A service time of zero: a health endpoint answers at once."""

    mean = 0.0

    @staticmethod
    def quantile(u: float) -> float:
        return 0.0


class _Probe:
    """One health check of one backend; listener of its TCP connection."""

    __slots__ = ("backend", "checker", "conn", "done", "started")

    def __init__(self, checker: HealthChecker, backend: BackendRef, started: float) -> None:
        self.checker = checker
        self.backend = backend
        self.started = started
        self.conn: TcpConnection | None = None
        self.done = False

    def finish(self, passed: bool) -> None:
        if self.done:
            return
        self.done = True
        conn = self.conn
        if conn is not None and conn.state is not TcpState.CLOSED:
            conn.abort(self.checker.env.now)
            self.checker.stack.flush(conn)
        self.checker.result(self.backend, passed)

    def on_established(self, conn: TcpConnection, now: float) -> None:
        if self.checker.http:
            req = HttpRequest(
                request_id=f"health-{self.backend.name}-{now:.6f}",
                method="GET",
                path=self.checker.path,
                size=120,
                response_size=200,
                service_u=0.5,
                service_time=_Instant(),
            )
            conn.send(req.size, req, now)
            self.checker.stack.flush(conn)
        else:
            self.finish(True)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        self.finish(getattr(message, "status", None) == 200)

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Not used."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        self.finish(False)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.finish(False)


class HealthChecker:
    """Probes a balancer's backends and marks them up or down.

    Attributes:
        checks: Probes started.
        failures: Probes that failed.
        transitions: ``(time, backend, healthy)`` for every change of state.
    """

    def __init__(
        self,
        env: simpy.Environment,
        stack: TcpStack,
        backends: list[BackendRef],
        *,
        kind: str,
        path: str,
        interval: float,
        timeout: float,
        rise: int,
        fall: int,
        recorder: Recorder,
        on_change: Callable[[BackendRef, bool, float], None] | None = None,
        device: str | None = None,
        source: int = LB_INSIDE,
    ) -> None:
        self.env = env
        #: The address probes come from (the balancer's inside address).
        self.source = source
        self.stack = stack
        self.http = kind == "http"
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.recorder = recorder
        self.on_change = on_change
        #: Who decides, in the decision records (the balancer; default: the stack).
        self.device = device or stack.name
        self.checks = 0
        self.failures = 0
        self.transitions: list[tuple[float, str, bool]] = []
        self._streak: dict[str, int] = {}  # >0: passes in a row; <0: failures in a row
        self._stopped: set[str] = set()
        for index, backend in enumerate(backends):
            self.add(backend, offset=interval * index / max(1, len(backends)))

    def add(self, backend: BackendRef, offset: float = 0.0) -> None:
        """Start checking ``backend`` (first probe after ``offset`` + one interval)."""
        self._streak[backend.name] = 0
        self._stopped.discard(backend.name)
        self.env.process(self._loop(backend, offset))

    def remove(self, backend: BackendRef) -> None:
        """Stop checking ``backend``."""
        self._stopped.add(backend.name)

    def _loop(self, backend: BackendRef, offset: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if offset:
            yield env.timeout(offset)
        while backend.name not in self._stopped:
            yield env.timeout(self.interval)
            if backend.name in self._stopped:
                return
            self._probe(backend)

    def _probe(self, backend: BackendRef) -> None:
        now = self.env.now
        self.checks += 1
        probe = _Probe(self, backend, now)
        try:
            probe.conn = self.stack.connect(self.source, backend.ip, BACKEND_PORT, probe)
        except PortsExhausted:
            probe.finish(False)
            return
        call_at(self.env, now + self.timeout, probe.finish, False)

    def result(self, backend: BackendRef, passed: bool) -> None:
        """Count a probe's result; flip the backend's state on ``rise``/``fall``."""
        now = self.env.now
        streak = self._streak.get(backend.name, 0)
        if passed:
            streak = streak + 1 if streak > 0 else 1
        else:
            self.failures += 1
            streak = streak - 1 if streak < 0 else -1
        self._streak[backend.name] = streak
        if backend.healthy and streak <= -self.fall:
            self._set(backend, False, now)
        elif not backend.healthy and streak >= self.rise:
            self._set(backend, True, now)

    def _set(self, backend: BackendRef, healthy: bool, now: float) -> None:
        backend.healthy = healthy
        self.transitions.append((now, backend.name, healthy))
        self.recorder.sample(f"health.{backend.name}", now, 1.0 if healthy else 0.0)
        self.recorder.decide(
            now, self.device, "backend_up" if healthy else "backend_down",
            backend=backend.name, by="health_check", probes=self.rise if healthy else self.fall,
        )  # fmt: skip
        if self.on_change is not None:
            self.on_change(backend, healthy, now)
