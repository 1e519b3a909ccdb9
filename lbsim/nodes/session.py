"""A client session: the application on one client connection.

Theory of operation: a :class:`Session` issues requests on one TCP connection
(through a plain or TLS channel) and matches responses to them: by request id when
several are outstanding (multiplexed), else in order (HTTP/1.1). It measures each
request from the moment it is issued (before connecting, if a connection must be
opened) to the arrival of the last response byte, and turns it into exactly one
:class:`~lbsim.records.RequestRecord` whatever happens: a response, a refused
connection, a reset, a timeout, or the end of the run.

A request that fails with a retryable outcome (``error``, ``timeout``, ``rejected``)
while the client has retries left is not recorded: the workload is told
:data:`RETRY` and sends it again (see :mod:`lbsim.nodes.workloads`), on another
connection if this one is no longer usable; the latency of the final attempt still
counts from the first. When the connection ends the session writes its
:class:`~lbsim.records.ConnectionRecord`.

Sessions are callbacks, not processes: they never wait. They tell the workload of
each outcome by a call scheduled at that time (``then``), where the event a
workload process waited on used to fire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lbsim.app.http import HttpRequest
from lbsim.app.raw import RawRequest
from lbsim.host.channel import PlainChannel, TlsChannel
from lbsim.host.stack import PortsExhausted
from lbsim.net.addresses import VIP, VIP_PORT, ip_text
from lbsim.records import new_connection_record, new_request_record
from lbsim.sched import call_at
from lbsim.transport.states import SENDABLE, TcpState
from lbsim.transport.tcp import TcpConnection, TcpListener

if TYPE_CHECKING:
    from lbsim.nodes.client import ClientGroupRunner, ClientHost

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


#: The outcome a workload is told when the client will try the request again.
RETRY = "retry"
#: Outcomes after which a client with retries left tries again.
_RETRYABLE = ("error", "timeout", "rejected")


class _Pending:
    __slots__ = (
        "attempt",
        "index",
        "may_retry",
        "new_connection",
        "request",
        "t_start",
        "then",
    )

    def __init__(
        self,
        request: Request,
        t_start: float,
        new: bool,
        index: int,
        then: Callable[[str], None] | None,
        attempt: int = 0,
        may_retry: bool = False,
    ) -> None:
        self.request = request
        self.t_start = t_start
        self.new_connection = new
        self.index = index
        self.then = then
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
        self.created = group.env.now  # when the session was opened (connection age)

    # ------------------------------------------------------------- requests

    def request(
        self,
        req: Request,
        now: float,
        then: Callable[[str], None] | None = None,
        *,
        attempt: int = 0,
        first_start: float | None = None,
    ) -> None:
        """Issue ``req`` at ``now``; ``then`` is called with its outcome.

        The outcome is the recorded one, or :data:`RETRY` when the request failed
        and the client will send it again (then no record is written yet). ``then``
        is called as a scheduled call at the time of the outcome, where the event a
        waiting workload process used to wait on would have been processed.

        Args:
            req: The request.
            now: The current time.
            then: Called with the outcome.
            attempt: 0 for the first try, then 1, 2, ... for the client's retries.
            first_start: When the first try was issued (latency counts from there).
        """
        group = self.group
        cfg = group.cfg
        start = now if first_start is None else first_start
        pending = _Pending(
            req, start, self.tcp is None, self.count, then, attempt, attempt < cfg.retries
        )
        self.pending[req.request_id] = pending
        if cfg.timeout is not None:
            call_at(group.env, now + cfg.timeout, self._timeout, req.request_id, pending)
        self.count += 1
        group.in_flight[req.request_id] = self
        tcp = self.tcp
        if tcp is None:
            listener: TcpListener
            if cfg.tls is None:
                listener, port = self, VIP_PORT  # the session listens to TCP itself
            else:
                listener, port = group.open_channel(self)
            try:
                resolve = self.host.resolve
                dst = VIP if resolve is None else resolve(now)
                self.tcp = self.host.stack.connect(self.host.ip, dst, port, listener)
            except PortsExhausted:
                self.usable = False
                self._fail_all(now, "error", "no free source port")
                return
            self._waiting.append(req)
        elif self.ready:
            self.channel.send(req, now)  # type: ignore[union-attr]  # ready: it has one
        elif tcp.state is TcpState.SYN_SENT or tcp.state is TcpState.ESTABLISHED:
            self._waiting.append(req)  # the TCP or TLS handshake is still under way
        else:
            self.usable = False
            self._fail(req.request_id, now, "error", "connection not usable")

    def close(self) -> None:
        """Close the connection (FIN) once no request is outstanding."""
        self.usable = False
        self.closing = True
        if self.pending:
            return  # closed when the last answer arrives
        tcp = self.tcp
        if tcp is not None and tcp.state in SENDABLE:
            tcp.close(self.group.env.now)
            self.host.stack.flush(tcp)

    def _timeout(self, request_id: str, pending: _Pending) -> None:
        """The client stops waiting for a request (its ``timeout``)."""
        if self.pending.get(request_id) is not pending:
            return
        now = self.group.env.now
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
            outcome = RETRY  # the client sends it again: no record yet
        else:
            ctx = req.ctx
            group.recorder.requests.append(
                new_request_record(
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
        # Tell the workload: a call scheduled now.
        then = pending.then
        if then is not None:
            call_at(group.env, now, then, outcome)
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
        channel = self.channel
        if channel is None:
            channel = self.channel = PlainChannel(conn, self.host.stack)
        self.ready = True
        waiting, self._waiting = self._waiting, []
        for req in waiting:
            if req.request_id in self.pending:
                channel.send(req, now)

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        """A complete response arrived (matched by request id, or HTTP/1.1 order)."""
        status = message.status
        request = message.request
        for name, value in getattr(message, "headers", ()):
            if name.lower() == "set-cookie":
                self.group.keep_cookie(self.conn_id.rsplit("-c", 1)[0], value)
        if request is None:
            if not self.pending:
                return
            request_id = next(iter(self.pending))  # the oldest open request
        else:
            request_id = request.request_id
        outcome = "ok" if status is None or status < 400 else outcome_for_status(status)
        self._finish(request_id, now, outcome, status, None, message.size)

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        """Not used (the client waits for whole responses)."""

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        """The server side closed the connection."""
        self.usable = False
        if self.pending:
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
            new_connection_record(
                variant=self.group.variant,
                connection=self.conn_id,
                side="client",
                src=f"{ip_text(tcp.local_ip)}:{tcp.local_port}",
                dst=f"{ip_text(tcp.remote_ip)}:{tcp.remote_port}",
                backend=self.group.placement(tcp.local_ip, tcp.local_port),
                t_open=tcp.opened_at if tcp.opened_at is not None else 0.0,
                t_established=tcp.established_at,
                t_close=tcp.finished_at,
                requests=self.count,
                bytes_sent=tcp.bytes_sent,
                bytes_received=tcp.bytes_received,
                segments=tcp.segments,
                retransmissions=tcp.retransmissions,
                reset=self.close_error in ("reset", "aborted"),
            )
        )
        self.group.open_sessions.pop(self.conn_id, None)
