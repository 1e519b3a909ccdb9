"""Clients: users and sessions that open connections and issue requests.

Theory of operation: a client *group* drives one of four workloads:

* closed loop, ``http`` or ``raw`` (``count`` users): each user loops think ->
  request -> wait for the answer, reusing its connection for
  ``requests_per_connection`` requests and then closing it;
* open loop, ``http`` or ``raw`` (``rate``): sessions (connections) arrive as a
  Poisson process; each sends its requests with think time between them;
* closed loop, ``multiplexed`` (``count`` users): each user keeps one long-lived
  connection on which ``streams`` request loops run at the same time, like gRPC
  calls sharing an HTTP/2 connection;
* open loop, ``multiplexed`` (``rate``): requests (not sessions) arrive as a
  Poisson process and are spread round robin over ``connections`` long-lived
  connections.

Users, sessions and streams are SimPy processes because they wait; everything
below them is callbacks. All randomness of a user, session or stream -- think
times, which request, sizes, path ids, the uniform draw that fixes the service
time -- comes from its own stream keyed by (seed, group, who), drawn in the same
order whatever the balancer does, so every balancer variant sees the same
workload (common random numbers).

A :class:`Session` is the application on one client connection. It may have
several requests outstanding (multiplexed) and matches responses to requests by
id. It measures each request from the moment it is issued (before connecting, if
a connection must be opened) to the arrival of the last response byte, and turns
it into exactly one :class:`~lbsim.records.RequestRecord` whatever happens: a
response, a refused connection, a reset, a timeout, or the end of the run.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

from lbsim.app.auth import token_header
from lbsim.app.http import HttpRequest
from lbsim.app.raw import RawRequest
from lbsim.app.tls import Ticket, TlsEndpoint
from lbsim.host.channel import PlainChannel, TlsChannel
from lbsim.host.stack import PortsExhausted, TcpStack
from lbsim.net.addresses import VIP, VIP_PORT, VIP_TLS_PORT, endpoint_str
from lbsim.records import ConnectionRecord, Recorder, RequestRecord
from lbsim.sched import call_at
from lbsim.streams import stream
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpConnection, TcpListener

Request = HttpRequest | RawRequest


def outcome_for_status(status: int | None) -> str:
    """Map a response status to a request outcome.

    2xx/3xx (and raw answers, which have no status) are ``ok``; 401 and 403 are
    ``blocked`` (an edge policy refused it); 408 and 504 are ``timeout``; 503 is
    ``rejected`` (no capacity); anything else is ``error``.
    """
    if status is None or status < 400:
        return "ok"
    if status in (401, 403):
        return "blocked"
    if status in (408, 504):
        return "timeout"
    if status == 503:
        return "rejected"
    return "error"


@functools.lru_cache(maxsize=32)
def _zipf_cumulative(ids: int, s: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(k**-s for k in range(1, ids + 1)))


def pick_id(u: float, ids: int, zipf: float | None) -> int:
    """The id in ``1..ids`` that the uniform draw ``u`` selects.

    Uniform by default; with ``zipf`` = s, id ``k`` has probability proportional to
    ``k**-s`` (inverse transform over the cumulative weights).
    """
    if zipf is None:
        return min(ids, 1 + int(u * ids))
    cumulative = _zipf_cumulative(ids, zipf)
    return min(ids, 1 + bisect.bisect_right(cumulative, u * cumulative[-1]))


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


#: The value a request's event carries when the client will try it again.
RETRY = "retry"
#: Outcomes after which a client with retries left tries again.
_RETRYABLE = ("error", "timeout", "rejected")


class _Pending:
    __slots__ = ("attempt", "event", "index", "may_retry", "new_connection", "request", "t_start")

    def __init__(
        self,
        request: Request,
        t_start: float,
        new: bool,
        index: int,
        event: simpy.Event,
        attempt: int = 0,
        may_retry: bool = False,
    ) -> None:
        self.request = request
        self.t_start = t_start
        self.new_connection = new
        self.index = index
        self.event = event
        self.attempt = attempt
        self.may_retry = may_retry


class Session:
    """The client application on one TCP connection.

    Attributes:
        conn_id: Stable connection id, e.g. ``"browsers-3-c0"``.
        tcp: The TCP connection once opened.
        count: Requests issued on it.
        pending: Requests sent and not yet answered, by request id.
        usable: False once the connection failed or was closed by the peer.
    """

    def __init__(self, group: ClientGroupRunner, conn_id: str, host: ClientHost) -> None:
        self.group = group
        self.conn_id = conn_id
        self.host = host
        self.tcp: TcpConnection | None = None
        self.pending: dict[str, _Pending] = {}
        self._waiting: list[Request] = []  # issued before the handshake completed
        self.count = 0
        self.usable = True
        self.recorded = False
        self.close_error: str | None = None
        self.closing = False
        self.channel: PlainChannel | TlsChannel | None = None
        self.ready = False  # handshakes done: requests may be sent

    # ------------------------------------------------------------- requests

    def request(
        self, req: Request, *, attempt: int = 0, first_start: float | None = None
    ) -> simpy.Event:
        """Issue ``req``; the returned event fires when it has an outcome.

        Its value is the outcome, or :data:`RETRY` when the request failed and the
        client will send it again (then no record is written yet).

        Args:
            req: The request.
            attempt: 0 for the first try, then 1, 2, ... for the client's retries.
            first_start: When the first try was issued (latency counts from there).
        """
        env = self.group.env
        now = env._now
        event = env.event()
        cfg = self.group.cfg
        start = now if first_start is None else first_start
        pending = _Pending(
            req, start, self.tcp is None, self.count, event, attempt, attempt < cfg.retries
        )
        self.pending[req.request_id] = pending
        if cfg.timeout is not None:
            call_at(env, now + cfg.timeout, self._timeout, req.request_id, pending)
        self.count += 1
        self.group.in_flight[req.request_id] = self
        tcp = self.tcp
        if tcp is None:
            listener, port = self.group.open_channel(self)
            try:
                self.tcp = self.host.stack.connect(self.host.ip, VIP, port, listener)
            except PortsExhausted:
                self.usable = False
                self._fail_all(now, "error", "no free source port")
                return event
            self._waiting.append(req)
        elif self.ready:
            self._send(req, now)
        elif tcp.state is TcpState.SYN_SENT or tcp.state is TcpState.ESTABLISHED:
            self._waiting.append(req)  # the TCP or TLS handshake is still under way
        else:
            self.usable = False
            self._fail(req.request_id, now, "error", "connection not usable")
        return event

    def _send(self, req: Request, now: float) -> None:
        assert self.channel is not None
        self.channel.send(req, now)

    def close(self) -> None:
        """Close the connection (FIN) once no request is outstanding."""
        self.usable = False
        self.closing = True
        if self.pending:
            return  # closed when the last answer arrives
        tcp = self.tcp
        if tcp is not None and tcp.state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            tcp.close(self.group.env._now)
            self.host.stack.flush(tcp)

    def _timeout(self, request_id: str, pending: _Pending) -> None:
        """The client stops waiting for a request (its ``timeout``)."""
        if self.pending.get(request_id) is not pending:
            return
        now = self.group.env._now
        self._finish(request_id, now, "timeout", None, "client timeout")
        if self.group.cfg.protocol != "multiplexed":
            # HTTP/1.1 cannot cancel a request in flight: drop the connection.
            self.usable = False
            tcp = self.tcp
            if tcp is not None and tcp.state is not TcpState.CLOSED:
                tcp.abort(now)
                self.host.stack.flush(tcp)

    def _finish(
        self,
        request_id: str,
        now: float,
        outcome: str,
        status: int | None,
        reason: str | None,
        response_bytes: int = 0,
    ) -> None:
        pending = self.pending.pop(request_id, None)
        if pending is None:
            return
        group = self.group
        req = pending.request
        group.in_flight.pop(request_id, None)
        if outcome in _RETRYABLE and pending.may_retry:
            pending.event.succeed(RETRY)  # the client sends it again: no record yet
            if self.closing and not self.pending:
                self.close()
            return
        ctx = req.ctx
        group.recorder.requests.append(
            RequestRecord(
                variant=group.variant,
                request_id=request_id,
                client=group.name,
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
                new_upstream=ctx.new_upstream,
                upstream_tries=ctx.upstream_tries,
                attempts=pending.attempt + 1,
                client_ip_seen=ctx.client_ip_seen,
                forwarded_for=ctx.forwarded_for,
            )
        )
        if not pending.event.triggered:
            pending.event.succeed(outcome)
        if self.closing and not self.pending:
            self.close()

    def _fail(self, request_id: str, now: float, outcome: str, reason: str) -> None:
        self._finish(request_id, now, outcome, None, reason)

    def _fail_all(self, now: float, outcome: str, reason: str) -> None:
        for request_id in list(self.pending):
            self._fail(request_id, now, outcome, reason)

    def abandon(self, now: float) -> None:
        """The run ended with requests still open: record them as timeouts."""
        self._fail_all(now, "timeout", "unfinished when the run ended")

    # ------------------------------------------------------------ TcpListener

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Handshake(s) done: send the requests that were waiting for it."""
        if self.channel is None:
            self.channel = PlainChannel(conn, self.host.stack)
        self.ready = True
        waiting, self._waiting = self._waiting, []
        for req in waiting:
            if req.request_id in self.pending:
                self._send(req, now)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """A complete response arrived (matched by request id, or HTTP/1.1 order)."""
        status = message.status
        request = message.request
        if request is None:
            if not self.pending:
                return
            request_id = next(iter(self.pending))  # the oldest open request
        else:
            request_id = request.request_id
        self._finish(
            request_id,
            now,
            outcome_for_status(status),
            status,
            None,
            message.size,
        )

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Not used (the client waits for whole responses)."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The server side closed the connection."""
        self.usable = False
        self._fail_all(now, "error", "connection closed by peer")
        if conn.state is TcpState.CLOSE_WAIT:
            conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """The connection is gone: fail any open request and record the connection."""
        self.usable = False
        self.close_error = error
        if self.pending:
            if error == "timeout":
                self._fail_all(now, "timeout", "connection timed out")
            elif error == "reset" and conn.established_at is None:
                self._fail_all(now, "rejected", "connection refused (RST)")
            else:
                self._fail_all(now, "error", f"connection {error or 'closed'}")
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
        open_sessions: Sessions whose connection record is not yet written.
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
        self._raw = cfg.protocol == "raw"
        # Header fields common to the group's requests: identity, then its own.
        common: list[tuple[str, str]] = [("User-Agent", cfg.user_agent)]
        token = token_header(cfg.user, cfg.token)
        if token is not None:
            common.append(token)
        common += list(cfg.headers)
        self._common_headers = tuple(common)
        self._templated = any("{user}" in v for _, v in self._common_headers)
        #: Session tickets kept per user/session id (TLS resumption).
        self.tickets: dict[str, Ticket] = {}

    def placement(self, ip: int, port: int) -> str | None:
        """Backend the balancer pinned the connection from ``ip:port`` to, if any."""
        return None if self._placement is None else self._placement(ip, port)

    def open_channel(self, session: Session) -> tuple[TcpListener, int]:
        """The listener for a new connection of ``session``, and the VIP port to use.

        Without TLS the session listens to TCP itself. With TLS a client TLS end
        sits in between, offering the session ticket of this user (if resumption
        is on and it holds a valid one) and keeping the ticket it is given.
        """
        tls = self.cfg.tls
        if tls is None:
            return session, VIP_PORT
        who = session.conn_id.rsplit("-c", 1)[0]
        ticket = self.tickets.get(who) if tls.resumption else None
        if ticket is not None and not ticket.valid(self.env._now):
            ticket = None

        def keep(new: Ticket | None) -> None:
            if new is None:
                self.tickets.pop(who, None)
            elif tls.resumption:
                self.tickets[who] = new

        endpoint = TlsEndpoint(
            "client", tls.version, name=f"{self.name}:{session.conn_id}", ticket=ticket
        )
        channel = TlsChannel(self.env, endpoint, session, session.host.stack, on_ticket=keep)
        session.channel = channel
        return channel, VIP_TLS_PORT

    def start(self) -> None:
        """Start the users, streams or arrival process of the group's workload."""
        cfg = self.cfg
        if cfg.protocol == "multiplexed":
            if cfg.count is not None:
                for user in range(cfg.count):
                    holder = _SessionHolder(self, user)
                    for k in range(cfg.streams):
                        self.tracker.started()
                        self.env.process(self._stream(holder, user, k))
            else:
                self.tracker.started()
                self.env.process(self._mux_arrivals())
        elif cfg.count is not None:
            for user in range(cfg.count):
                self.tracker.started()
                self.env.process(self._user(user))
        else:
            self.tracker.started()
            self.env.process(self._arrivals())

    def make_request(self, rng: random.Random, request_id: str, who: str = "") -> Request:
        """Draw the next request from ``rng`` (always the same number of draws).

        Args:
            rng: The user's, session's or stream's own random stream.
            request_id: Its stable id.
            who: Id of the user or session, substituted for ``{user}`` in headers.
        """
        total = self._cum_weights[-1]
        spec = self._specs[bisect.bisect_right(self._cum_weights, rng.random() * total)]
        size = max(1, round(spec.size.sample(rng)))
        response = max(1, round(spec.response.sample(rng)))
        service_u = rng.random()
        id_u = rng.random()
        if "{n}" in spec.path:
            n = pick_id(id_u, spec.ids, spec.zipf)
            path = spec.path.replace("{n}", str(n))
        else:
            path = spec.path
        if self._raw:
            return RawRequest(request_id, path, size, response, service_u, spec.service_time)
        headers = self._common_headers
        if self._templated:
            headers = tuple((k, v.replace("{user}", who)) for k, v in headers)
        if spec.headers:
            headers = headers + tuple(spec.headers)
        return HttpRequest(
            request_id=request_id,
            method=spec.method,
            path=path,
            size=size,
            response_size=response,
            service_u=service_u,
            service_time=spec.service_time,
            headers=headers,
        )

    def new_session(self, conn_id: str, host: ClientHost) -> Session:
        """A session (not yet connected) for a new client connection."""
        session = Session(self, conn_id, host)
        self.open_sessions[conn_id] = session
        return session

    # ------------------------------------------------- one request at a time

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
                session = self.new_session(f"{self.name}-{user}-c{n_conn}", host)
                n_conn += 1
            req = self.make_request(rng, f"{self.name}-{user}-{seq}", f"{self.name}-{user}")
            seq += 1
            attempt, first = 0, env._now
            while (yield session.request(req, attempt=attempt, first_start=first)) == RETRY:
                attempt += 1
                session.close()
                session = self.new_session(f"{self.name}-{user}-c{n_conn}", host)
                n_conn += 1
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
        host = self.hosts[index % len(self.hosts)]
        session = self.new_session(f"{self.name}-{index}-c0", host)
        n_conn = 1
        for k in range(cfg.requests_per_connection):
            if k:
                yield env.timeout(cfg.think_time.sample(rng))
                if env._now >= self.duration:
                    break
            req = self.make_request(rng, f"{self.name}-{index}-{k}", f"{self.name}-{index}")
            attempt, first = 0, env._now
            while (yield session.request(req, attempt=attempt, first_start=first)) == RETRY:
                attempt += 1
                session.close()
                session = self.new_session(f"{self.name}-{index}-c{n_conn}", host)
                n_conn += 1
            if not session.usable:
                break
        session.close()
        self.tracker.finished()

    # ------------------------------------------------------------ multiplexed

    def _stream(
        self, holder: _SessionHolder, user: int, k: int
    ) -> Generator[simpy.Event, Any, None]:
        """One request loop of a multiplexed user (its streams share a connection)."""
        env = self.env
        rng = stream(self.seed, "client", self.name, user, "stream", k)
        think = self.cfg.think_time
        seq = 0
        while True:
            yield env.timeout(think.sample(rng))
            if env._now >= self.duration:
                break
            req = self.make_request(rng, f"{self.name}-{user}.{k}-{seq}", f"{self.name}-{user}")
            seq += 1
            attempt, first = 0, env._now
            while (
                yield holder.session().request(req, attempt=attempt, first_start=first)
            ) == RETRY:
                attempt += 1
        holder.stream_done()
        self.tracker.finished()

    def _mux_arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Open-loop multiplexed: Poisson requests over long-lived connections."""
        env = self.env
        cfg = self.cfg
        rng = stream(self.seed, "arrivals", self.name)
        n = cfg.connections or cfg.hosts
        holders = [_SessionHolder(self, c) for c in range(n)]
        i = 0
        while True:
            yield env.timeout(rng.expovariate(cfg.rate))
            if env._now >= self.duration:
                break
            holder = holders[i % n]
            req = self.make_request(rng, f"{self.name}-r{i}", f"{self.name}-{holder.user}")
            holder.session().request(req)
            i += 1
        # No process waits for these requests one by one: wait for all of them here,
        # so the run does not end while some are still being served.
        open_requests = [
            pending.event
            for holder in holders
            if holder.current is not None
            for pending in holder.current.pending.values()
        ]
        if open_requests:
            yield env.all_of(open_requests)
        for holder in holders:
            holder.stream_done(all_streams=True)
        self.tracker.finished()

    def finalize(self, now: float) -> None:
        """End of run: every open request becomes a timeout; open connections are recorded."""
        for session in {id(s): s for s in self.in_flight.values()}.values():
            session.abandon(now)
        for session in list(self.open_sessions.values()):
            if session.tcp is None:
                self.open_sessions.pop(session.conn_id, None)
            else:
                session.record(None)


class _SessionHolder:
    """The current connection of a multiplexed user, shared by its streams.

    A connection carries ``requests_per_connection`` requests in all; the next
    request then opens a fresh one, and the old one closes once its last answer
    is in.
    """

    def __init__(self, group: ClientGroupRunner, user: int) -> None:
        self.group = group
        self.user = user
        self.host = group.hosts[user % len(group.hosts)]
        self.current: Session | None = None
        self.connections = 0
        self.live_streams = group.cfg.streams

    def session(self) -> Session:
        """The connection to issue the next request on."""
        current = self.current
        limit = self.group.cfg.requests_per_connection
        if current is None or not current.usable or current.count >= limit:
            if current is not None:
                current.close()
            current = self.group.new_session(
                f"{self.group.name}-{self.user}-c{self.connections}", self.host
            )
            self.connections += 1
            self.current = current
        return current

    def stream_done(self, all_streams: bool = False) -> None:
        """A stream stopped; the last one closes the connection."""
        self.live_streams = 0 if all_streams else self.live_streams - 1
        if self.live_streams <= 0 and self.current is not None:
            self.current.close()
