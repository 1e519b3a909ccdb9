"""A backend server: HTTP over TCP, a FIFO queue and a pool of workers.

Theory of operation: a backend listens on port 8080. When a request's last byte
has arrived (the TCP layer reports the complete message) it joins a single FIFO
queue served by ``workers`` identical workers -- an M/M/c station when arrivals are
Poisson and service exponential, which is what the validation tests rely on. The
service time is the group's (or the request's own) distribution evaluated at the
request's uniform draw, so every balancer variant serves a given request for the
same time. When a worker finishes, the response is written to the connection the
request came on; HTTP/1.1 without pipelining means one outstanding request per
connection. A bounded queue answers 503 at once when full.

That is an *event-driven* server (``io_model: event``). A *blocking* server
(``io_model: blocking``, thread per connection) instead ties a worker to a
connection as soon as a request's first byte arrives and keeps it, idle, until the
request has fully arrived and been served: slow senders hold workers. This is
what an L7 balancer in front shields backends from (it forwards a request only
once complete, at LAN speed), while an L4 balancer passes the slowness through.

A *read replica* (``read_only``) serves a write like any request, then answers it
``405``: its database refuses the write. Only a balancer that reads the method can
keep writes away from it.

A connection from a layer-4 proxy that writes the PROXY protocol starts with a
header naming the client (:mod:`lbsim.app.proxy_protocol`), a message of its
own ahead of the first request: the server takes the client's address from it
for that connection (as HAProxy's ``accept-proxy`` or nginx's
``listen ... proxy_protocol`` do) and serves the requests that follow; the
header itself is no request. ``client_ip_seen`` of a request is that address
when the connection had a header, else the connection's peer address.

No SimPy process per request: a worker's completion is one scheduled call.
"""

from __future__ import annotations

import functools
import math
import random
from collections import deque
from dataclasses import replace
from typing import Any

import simpy

from lbsim.app.http import ERROR_RESPONSE_SIZE, HttpRequest, HttpResponse, field_value
from lbsim.app.load_report import LoadReporter
from lbsim.app.proxy_protocol import ProxyHeader
from lbsim.app.tls import TlsEndpoint
from lbsim.host.channel import TlsChannel
from lbsim.host.cpu import Cpu
from lbsim.host.stack import TcpStack
from lbsim.net.addresses import (
    BACKEND_PORT,
    BACKEND_TLS_PORT,
    VIP,
    VIP_PORT,
    VIP_TLS_PORT,
    ip_text,
)
from lbsim.scenario.distributions import Distribution
from lbsim.sched import call_at
from lbsim.transport.states import SENDABLE as _SENDABLE
from lbsim.transport.tcp import TcpConnection

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # what a read replica refuses


@functools.lru_cache(maxsize=1 << 10)
def _forwarded_for(headers: tuple[tuple[str, str], ...]) -> str | None:
    """The ``X-Forwarded-For`` value of a header block, read once per distinct block.

    A client group sends the same header block with every request (one tuple),
    and a proxy in front writes one block per client address, so a small cache
    spares reading every header name of every request.
    """
    return field_value(headers, "X-Forwarded-For")


class _Reader:
    """Per-connection state of a blocking server: is a request being read, by whom."""

    __slots__ = ("arrived", "reading", "request", "since", "waiting", "worker")

    def __init__(self) -> None:
        self.reading = False  # a request's bytes are arriving
        self.worker = False  # a worker is tied to this connection
        self.waiting = False  # queued for a worker
        self.request: HttpRequest | None = None  # complete, waiting for a worker
        self.since = 0.0
        self.arrived = 0.0


class Backend:
    """One backend instance.

    Attributes:
        name: Instance name, e.g. ``"web-2"``.
        group: Group name.
        ip: Its address.
        weight: Balancing weight.
        workers: Number of parallel workers.
        busy: Workers busy now.
        queue: Requests waiting for a worker.
        served: Requests completed.
        rejected: Requests answered 503 because the queue was full.
        busy_time: Worker-seconds of service given.
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        group: str,
        ip: int,
        stack: TcpStack,
        *,
        workers: int,
        service_time: Distribution,
        weight: float = 1.0,
        queue_limit: int | None = None,
        io_model: str = "event",
        tls_key: str = "ecdsa_p256",
        read_only: bool = False,
        warmup_penalty: float = 1.0,
        warmup_window: float = 0.0,
        load_report_period: float | None = None,
    ) -> None:
        self.env = env
        self.read_only = read_only
        self.name = name
        self.group = group
        self.ip = ip
        self.stack = stack
        self.weight = weight
        self.workers = workers
        self.service_time = service_time
        self.queue_limit = queue_limit
        self.blocking = io_model == "blocking"
        #: Blocking servers: connections whose request began but got no worker yet.
        self.readers: deque[TcpConnection] = deque()
        self.busy = 0
        self.queue: deque[tuple[TcpConnection, HttpRequest, float]] = deque()
        self.served = 0
        self.rejected = 0
        self.busy_time = 0.0
        self.tls_key = tls_key
        #: Cores doing this server's TLS work (one per worker); kept apart from the
        #: request workers, a simplification: its busy time is reported.
        self.tls_cpu = Cpu(workers)
        self.tls_stats: dict[str, float] = {}
        self.up = True
        self._epoch = 0  # bumped by a crash: work started before it is void
        self.slow_factor = 1.0
        #: Cold start: service times are ``warmup_penalty`` times longer when the
        #: server starts, the excess decaying linearly to none over ``warmup_window``.
        #: Servers present when the run starts have been running before it: warm.
        self.warmup_penalty = warmup_penalty
        self.warmup_window = warmup_window
        self.started_at = env.now if env.now > 0 else -math.inf
        #: ORCA-style load reports on every response (None: the group reports nothing).
        self.reporter = (
            None if load_report_period is None else LoadReporter(load_report_period, env.now)
        )
        self.error_rate = 0.0
        self.errors_rng = random.Random(0)  # replaced by the run's own stream
        self.errors_sent = 0
        self._channels: dict[TcpConnection, TlsChannel] = {}
        #: Client address a PROXY protocol header named, per connection that had one.
        self._proxied: dict[TcpConnection, str] = {}
        stack.listen(ip, BACKEND_PORT, self._accept)
        stack.listen(ip, BACKEND_TLS_PORT, self._accept_tls)

    # ------------------------------------------------------------- faults

    def crash(self, mode: str) -> None:
        """The server fails: ``reset`` refuses and resets, ``silent`` vanishes.

        Either way its workers stop, queued requests are lost and its connection
        state is gone.
        """
        self.up = False
        self._epoch += 1
        self.busy = 0
        self.queue.clear()
        self.readers.clear()
        self._channels.clear()
        self._proxied.clear()
        if mode == "reset":
            self.stack.refusing = True
            self.stack.reset_all()
        else:
            self.stack.silent = True

    def recover(self) -> None:
        """The server is back, with no memory of old connections (and cold again)."""
        self.up = True
        self.started_at = self.env.now
        self.stack.forget_all()
        self.stack.refusing = False
        self.stack.silent = False

    def listen_on_vip(self) -> None:
        """Also accept connections to the VIP (direct server return).

        With DSR the balancer forwards the client's packets unchanged, VIP and all,
        so the backend carries the VIP as a local address (on its loopback, in a
        real deployment) and answers from it straight to the client.
        """
        self.stack.listen(VIP, VIP_PORT, self._accept)
        self.stack.listen(VIP, VIP_TLS_PORT, self._accept_tls)

    # TcpListener for every accepted connection.
    def _accept(self, conn: TcpConnection) -> Backend:
        if self.blocking:
            conn.stream_data = True  # it must see a request's first byte
            conn.user = _Reader()
        return self

    def _accept_tls(self, conn: TcpConnection) -> TlsChannel:
        """A connection to the TLS port: TLS ends here (L4 passthrough or re-encryption).

        The backend holds its own certificate and issues its own session tickets,
        so a ticket issued by another backend cannot be resumed here.
        """
        self._accept(conn)
        endpoint = TlsEndpoint("server", "1.3", key=self.tls_key, name=self.name, resumption=True)
        channel = TlsChannel(
            self.env, endpoint, self, self.stack, cpu=self.tls_cpu, stats=self.tls_stats
        )
        channel.conn = conn
        self._channels[conn] = channel
        return channel

    def on_established(self, conn: TcpConnection, now: float) -> None:
        """Nothing to do until a request arrives."""

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Blocking servers only: a request's first byte claims a worker."""
        reader: _Reader = conn.user
        if reader.reading or reader.waiting:
            return
        if ends and ends[-1][0] == nbytes:
            return  # the request completes in these bytes: on_message takes a worker
        reader.reading = True
        reader.since = now
        if self.busy < self.workers:
            self.busy += 1
            reader.worker = True
        else:
            reader.waiting = True
            self.readers.append(conn)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """A complete request arrived: start it on a worker, or queue it.

        A PROXY protocol header is no request: its client address is noted for
        the connection, and nothing else happens.
        """
        if isinstance(message, ProxyHeader):
            self._proxied[conn] = message.source
            return
        req: HttpRequest = message
        ctx = req.ctx
        ctx.backend = self.name
        ctx.t_backend_first_byte = first_byte
        ctx.t_backend_last_byte = now
        proxied = self._proxied
        if proxied and conn in proxied:
            ctx.client_ip_seen = proxied[conn]
        else:
            ctx.client_ip_seen = ip_text(conn.remote_ip)
        headers = getattr(req, "headers", None)  # raw requests have none
        ctx.forwarded_for = _forwarded_for(headers) if headers else None
        if self.blocking:
            reader: _Reader = conn.user
            reader.reading = False
            if reader.worker:
                self._serve(conn, req, now, now)  # the worker was waiting for these bytes
                return
            if not reader.waiting:
                # Arrived whole before any worker was claimed for it.
                if self.busy < self.workers:
                    self.busy += 1
                    reader.worker = True
                    self._serve(conn, req, now, now)
                    return
                if self.queue_limit is not None and len(self.readers) >= self.queue_limit:
                    self.rejected += 1
                    self._respond(conn, req.respond(503, ERROR_RESPONSE_SIZE, self.name), now)
                    return
                reader.waiting = True
                self.readers.append(conn)
            reader.request = req
            reader.arrived = now
            return
        if self.busy < self.workers:
            self.busy += 1
            self._serve(conn, req, now, now)
        elif self.queue_limit is not None and len(self.queue) >= self.queue_limit:
            self.rejected += 1
            self._respond(conn, req.respond(503, ERROR_RESPONSE_SIZE, self.name), now)
        else:
            self.queue.append((conn, req, now))

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The client side closed: close ours too (HTTP keep-alive ends)."""
        conn.close(now)

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        """Forget the connection; queued work for it is answered into the void."""
        if self._channels:
            self._channels.pop(conn, None)
        if self._proxied:
            self._proxied.pop(conn, None)

    def warmup_factor(self, now: float) -> float:
        """The cold-start multiplier of service times at ``now`` (1.0 once warm)."""
        penalty = self.warmup_penalty
        if penalty == 1.0 or self.warmup_window <= 0.0:
            return 1.0
        left = 1.0 - (now - self.started_at) / self.warmup_window
        return 1.0 + (penalty - 1.0) * left if left > 0.0 else 1.0

    def _serve(self, conn: TcpConnection, req: HttpRequest, arrived: float, now: float) -> None:
        """Work on ``req`` with a worker already counted in ``busy``."""
        dist = req.service_time if req.service_time is not None else self.service_time
        service = dist.quantile(req.service_u) * self.slow_factor
        if self.warmup_penalty != 1.0:
            service *= self.warmup_factor(now)
        req.ctx.queue_wait = now - arrived
        req.ctx.service_time = service
        call_at(self.env, now + service, self._done, conn, req, service, self._epoch)

    def _done(self, conn: TcpConnection, req: HttpRequest, service: float, epoch: int) -> None:
        if epoch != self._epoch:
            return  # the server crashed meanwhile: this work and its worker are gone
        now = self.env.now
        self.served += 1
        self.busy_time += service
        if self.read_only and getattr(req, "method", "") in _WRITES:
            resp = req.respond(405, ERROR_RESPONSE_SIZE, self.name)
        elif self.error_rate and self.errors_rng.random() < self.error_rate:
            self.errors_sent += 1
            resp = req.respond(500, ERROR_RESPONSE_SIZE, self.name)
        else:
            resp = req.respond(200, req.response_size, self.name)
        reporter = self.reporter
        if reporter is not None and isinstance(resp, HttpResponse):
            report = reporter.header(now, self.busy_time, self.served, self.workers)
            if report is not None:
                resp = replace(resp, headers=(*resp.headers, report))
        self._respond(conn, resp, now)
        if self.blocking:
            reader: _Reader = conn.user
            reader.worker = False
            while self.readers:  # the freed worker goes to the longest-waiting reader
                nconn = self.readers.popleft()
                nreader: _Reader = nconn.user
                nreader.waiting = False
                nreader.worker = True
                if nreader.request is not None:
                    nreq, nreader.request = nreader.request, None
                    self._serve(nconn, nreq, nreader.arrived, now)
                return
            self.busy -= 1
            return
        if self.queue:  # the freed worker takes the oldest queued request
            nconn, nreq, arrived = self.queue.popleft()
            self._serve(nconn, nreq, arrived, now)
        else:
            self.busy -= 1

    def _respond(self, conn: TcpConnection, resp: Any, now: float) -> None:
        if not self.up:
            return
        channel = self._channels.get(conn) if self._channels else None
        if channel is not None:
            channel.send(resp, now)
        elif conn.state in _SENDABLE:
            conn.send(resp.size, resp, now)
            self.stack.flush(conn)
