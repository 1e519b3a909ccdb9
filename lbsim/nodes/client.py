"""Clients: users and sessions that open connections and issue HTTP requests.

Theory of operation: a client *group* is either closed-loop (``count`` users, each
looping think -> request -> wait for the answer, reusing its connection for
``requests_per_connection`` requests and then closing it) or open-loop (sessions
arrive as a Poisson process at ``rate``; each opens a connection, issues its
requests with think time between them and closes). A user or session is a SimPy
process because it waits; everything below it is callbacks.

All randomness of a user or session -- think times, which request, sizes, path
ids, the uniform draw that fixes the service time -- comes from its own stream
keyed by (seed, group, user), drawn in the same order whatever the balancer does.
So every balancer variant sees the same workload (common random numbers).

A :class:`Session` is the application on one client connection. It measures a
request from the moment it is issued (before connecting, if a connection must be
opened) to the arrival of the last response byte, and turns it into one
:class:`~lbsim.records.RequestRecord` whatever happens: a response, a reset, a
timeout, or the end of the run.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

from lbsim.app.http import HttpRequest, HttpResponse
from lbsim.net.addresses import VIP, VIP_PORT, endpoint_str
from lbsim.nodes.stack import PortsExhausted, TcpStack
from lbsim.records import ConnectionRecord, Recorder, RequestRecord
from lbsim.streams import stream
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection


def outcome_for_status(status: int) -> str:
    """Map an HTTP status to a request outcome.

    2xx/3xx are ``ok``; 401 and 403 are ``blocked`` (an edge policy refused it);
    408 and 504 are ``timeout``; 503 is ``rejected`` (no capacity); anything else
    is ``error``.
    """
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "blocked"
    if status in (408, 504):
        return "timeout"
    if status == 503:
        return "rejected"
    return "error"


class ClientHost:
    """One client machine: an address and a TCP stack with a single uplink."""

    def __init__(self, name: str, ip: int, stack: TcpStack) -> None:
        self.name = name
        self.ip = ip
        self.stack = stack


class Tracker:
    """Counts live users/sessions; fires ``done`` when all have finished."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.live = 0
        self.done = env.event()

    def started(self) -> None:
        """One more actor is running."""
        self.live += 1

    def finished(self) -> None:
        """An actor ended; the last one ends the run's active phase."""
        self.live -= 1
        if self.live == 0 and not self.done.triggered:
            self.done.succeed()


class _Pending:
    __slots__ = ("event", "index", "new_connection", "request", "t_start")

    def __init__(
        self, request: HttpRequest, t_start: float, new: bool, index: int, event: simpy.Event
    ) -> None:
        self.request = request
        self.t_start = t_start
        self.new_connection = new
        self.index = index
        self.event = event


class Session:
    """The client application on one TCP connection (HTTP/1.1, one request at a time).

    Attributes:
        conn_id: Stable connection id, e.g. ``"browsers-3-c0"``.
        tcp: The TCP connection once opened.
        count: Requests issued on it.
        usable: False once the connection failed or was closed by the peer.
    """

    def __init__(self, group: ClientGroupRunner, conn_id: str, host: ClientHost) -> None:
        self.group = group
        self.conn_id = conn_id
        self.host = host
        self.tcp: TcpConnection | None = None
        self.pending: _Pending | None = None
        self.count = 0
        self.usable = True
        self.recorded = False
        self.close_error: str | None = None

    # ------------------------------------------------------------- requests

    def request(self, req: HttpRequest) -> simpy.Event:
        """Issue ``req``; the returned event fires when it has an outcome."""
        env = self.group.env
        now = env._now
        event = env.event()
        self.pending = _Pending(req, now, self.tcp is None, self.count, event)
        self.count += 1
        self.group.in_flight[req.request_id] = self
        if self.tcp is None:
            try:
                self.tcp = self.host.stack.connect(self.host.ip, VIP, VIP_PORT, self)
            except PortsExhausted:
                self.usable = False
                self._fail(now, "error", "no free source port")
        elif self.tcp.state is TcpState.ESTABLISHED:
            self._send(now)
        else:
            self.usable = False
            self._fail(now, "error", "connection not usable")
        return event

    def _send(self, now: float) -> None:
        assert self.tcp is not None and self.pending is not None
        req = self.pending.request
        self.tcp.send(req.size, req, now)
        self.host.stack.flush(self.tcp)

    def close(self) -> None:
        """Close the connection after the last request (FIN)."""
        tcp = self.tcp
        self.usable = False
        if tcp is not None and tcp.state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            tcp.close(self.group.env._now)
            self.host.stack.flush(tcp)

    def _finish(
        self,
        now: float,
        outcome: str,
        status: int | None,
        reason: str | None,
        response_bytes: int = 0,
    ) -> None:
        pending = self.pending
        if pending is None:
            return
        self.pending = None
        req = pending.request
        self.group.in_flight.pop(req.request_id, None)
        ctx = req.ctx
        self.group.recorder.requests.append(
            RequestRecord(
                variant=self.group.variant,
                request_id=req.request_id,
                client=self.group.name,
                connection=self.conn_id,
                backend=ctx.backend,
                method=req.method,
                path=req.path,
                status=status,
                outcome=outcome,
                t_start=pending.t_start,
                t_end=now,
                request_bytes=req.size,
                response_bytes=response_bytes,
                cache_hit=ctx.cache_hit,
                new_connection=pending.new_connection,
                index_on_connection=pending.index,
                service_time=ctx.service_time,
                queue_wait=ctx.queue_wait,
                t_backend_first_byte=ctx.t_backend_first_byte,
                t_backend_last_byte=ctx.t_backend_last_byte,
                t_lb_last_byte=ctx.t_lb_last_byte,
                reason=reason,
            )
        )
        if not pending.event.triggered:
            pending.event.succeed()

    def _fail(self, now: float, outcome: str, reason: str) -> None:
        self._finish(now, outcome, None, reason)

    def abandon(self, now: float) -> None:
        """The run ended with the request still open: record it as a timeout."""
        self._fail(now, "timeout", "unfinished when the run ended")

    # ------------------------------------------------------------ TcpListener

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Handshake done: send the request that was waiting for it."""
        if self.pending is not None:
            self._send(now)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """A complete response arrived."""
        resp: HttpResponse = message
        self._finish(now, outcome_for_status(resp.status), resp.status, None, resp.size)

    def on_data(self, conn: TcpConnection, nbytes: int, now: float) -> None:
        """Not used (the client waits for whole responses)."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The server side closed the connection."""
        self.usable = False
        if self.pending is not None:
            self._fail(now, "error", "connection closed by peer")
        if conn.state is TcpState.CLOSE_WAIT:
            conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """The connection is gone: fail any open request and record the connection."""
        self.usable = False
        self.close_error = error
        if self.pending is not None:
            if error == "timeout":
                self._fail(now, "timeout", "connection timed out")
            else:
                self._fail(now, "error", f"connection {error or 'closed'}")
        self.record(now)

    def record(self, now: float | None) -> None:
        """Write the connection's record (once; ``now`` is None at the end of the run)."""
        tcp = self.tcp
        if tcp is None or self.recorded:
            return
        self.recorded = True
        self.group.recorder.connections.append(
            ConnectionRecord(
                variant=self.group.variant,
                connection=self.conn_id,
                side="client",
                src=endpoint_str(tcp.local_ip, tcp.local_port),
                dst=endpoint_str(tcp.remote_ip, tcp.remote_port),
                backend=self.group.placement(tcp.local_ip, tcp.local_port),
                t_open=tcp.opened_at if tcp.opened_at is not None else 0.0,
                t_established=tcp.established_at,
                t_close=tcp.finished_at,
                requests=self.count,
                bytes_sent=tcp.bytes_sent,
                bytes_received=tcp.bytes_received,
                segments=tcp.segments_sent,
                retransmissions=tcp.retransmissions,
                reset=self.close_error in ("reset", "aborted"),
            )
        )
        self.group.open_sessions.pop(self.conn_id, None)


class ClientGroupRunner:
    """Drives one client group of a scenario.

    Attributes:
        name: Group name.
        in_flight: Sessions with an open request, by request id.
    """

    def __init__(
        self,
        env: simpy.Environment,
        cfg: Any,
        hosts: list[ClientHost],
        *,
        seed: int,
        duration: float,
        variant: str,
        recorder: Recorder,
        tracker: Tracker,
        placement: Callable[[int, int], str | None] | None = None,
    ) -> None:
        """Set up the group (nothing runs until :meth:`start`).

        ``placement(ip, port)`` tells which backend a connection from that client
        address was pinned to, for balancers that pin connections (L4); it feeds
        the ``backend`` column of client-side connection records.
        """
        self.env = env
        self._placement = placement
        self.cfg = cfg
        self.name: str = cfg.name
        self.hosts = hosts
        self.seed = seed
        self.duration = duration
        self.variant = variant
        self.recorder = recorder
        self.tracker = tracker
        self.in_flight: dict[str, Session] = {}
        self.open_sessions: dict[str, Session] = {}
        specs = cfg.requests
        self._specs = specs
        self._cum_weights = list(itertools.accumulate(s.weight for s in specs))

    def placement(self, ip: int, port: int) -> str | None:
        """Backend the balancer pinned the connection from ``ip:port`` to, if any."""
        return None if self._placement is None else self._placement(ip, port)

    def start(self) -> None:
        """Start the users (closed loop) or the arrival process (open loop)."""
        if self.cfg.count is not None:
            for user in range(self.cfg.count):
                self.tracker.started()
                self.env.process(self._user(user))
        else:
            self.tracker.started()
            self.env.process(self._arrivals())

    def make_request(self, rng: random.Random, who: int, seq: int) -> HttpRequest:
        """Draw the next request of user/session ``who`` from its stream."""
        total = self._cum_weights[-1]
        spec = self._specs[bisect.bisect_right(self._cum_weights, rng.random() * total)]
        size = max(1, round(spec.size.sample(rng)))
        response = max(1, round(spec.response.sample(rng)))
        service_u = rng.random()
        n = rng.randint(1, spec.ids)
        path = spec.path.replace("{n}", str(n)) if "{n}" in spec.path else spec.path
        return HttpRequest(
            request_id=f"{self.name}-{who}-{seq}",
            method=spec.method,
            path=path,
            size=size,
            response_size=response,
            service_u=service_u,
            service_time=spec.service_time,
        )

    def _new_session(self, who: int, k: int, host: ClientHost) -> Session:
        session = Session(self, f"{self.name}-{who}-c{k}", host)
        self.open_sessions[session.conn_id] = session
        return session

    def _user(self, user: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        cfg = self.cfg
        rng = stream(self.seed, "client", self.name, user)
        host = self.hosts[user % len(self.hosts)]
        think = cfg.think_time
        per_conn = cfg.requests_per_connection
        session: Session | None = None
        n_conn = 0
        seq = 0
        while True:
            yield env.timeout(think.sample(rng))
            if env._now >= self.duration:
                break
            if session is None or not session.usable:
                if session is not None:
                    session.close()
                session = self._new_session(user, n_conn, host)
                n_conn += 1
            req = self.make_request(rng, user, seq)
            seq += 1
            yield session.request(req)
            if session.count >= per_conn or not session.usable:
                session.close()
                session = None
        if session is not None:
            session.close()
        self.tracker.finished()

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        rng = stream(self.seed, "arrivals", self.name)
        rate = self.cfg.rate
        i = 0
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env._now >= self.duration:
                break
            self.tracker.started()
            env.process(self._session(i))
            i += 1
        self.tracker.finished()

    def _session(self, index: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        cfg = self.cfg
        rng = stream(self.seed, "client", self.name, index)
        session = self._new_session(index, 0, self.hosts[index % len(self.hosts)])
        for k in range(cfg.requests_per_connection):
            if k:
                yield env.timeout(cfg.think_time.sample(rng))
                if env._now >= self.duration:
                    break
            req = self.make_request(rng, index, k)
            yield session.request(req)
            if not session.usable:
                break
        session.close()
        self.tracker.finished()

    def finalize(self, now: float) -> None:
        """End of run: every open request becomes a timeout; open connections are recorded."""
        for session in list(self.in_flight.values()):
            session.abandon(now)
        for session in list(self.open_sessions.values()):
            if session.tcp is None:
                self.open_sessions.pop(session.conn_id, None)
            else:
                session.record(None)
