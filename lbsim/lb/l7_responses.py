"""Layer-7 responses: held whole or relayed as they arrive, then the connections freed.

Theory of operation: a backend's response bytes reach the proxy on its pooled
upstream connection. In ``buffered`` mode (and always over a re-encrypted
upstream, where a record must be decrypted before it can be relayed) they are
held in the proxy's memory until the whole response is in, then written to the
client; in ``streamed`` mode each arrival is relayed at once. When a response is
complete its latency goes to the algorithm of the rule that chose the backend
(and its load report to the reported weights), a 5xx counts against the backend
for outlier detection and may be retried on another one (only if nothing of it
was relayed yet), a cacheable answer is stored, and the upstream connection goes
back to its pool. A client connection the client half-closed is closed once its
last response has been written.

:func:`response_bytes` and :func:`response_arrived` *are* the upstream
connection's ``on_data`` and ``on_message``: one call each per response on the
common path, the pool's release, the buffer accounting and the write to a plain
client connection written out in them (the general helpers stay for the rarer
cases: a retry, a waiting request, a TLS client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import simpy

from lbsim.app.http import HttpResponse
from lbsim.host.stack import TcpStack
from lbsim.lb.affinity import CookieAffinity
from lbsim.lb.cache import ResponseCache
from lbsim.lb.load_weights import ReportedWeights
from lbsim.lb.outlier import OutlierDetector
from lbsim.scenario.faults import RetryConfig
from lbsim.transport.states import SENDABLE as _SENDABLE
from lbsim.transport.tcp import TcpConnection

if TYPE_CHECKING:
    from lbsim.app.http import HttpRequest
    from lbsim.lb.backends import BackendRef
    from lbsim.lb.l7_buffers import ClientSide
    from lbsim.lb.l7_retries import Attempt
    from lbsim.lb.l7_upstream import Upstream
    from lbsim.lb.routing import Rule

__all__ = ["Responses", "response_arrived", "response_bytes"]


class Responses:
    """The response half of :class:`~lbsim.lb.l7.L7Balancer` (a mixin of it)."""

    if TYPE_CHECKING:  # what responses use of the proxy (declared for type checking only)
        env: simpy.Environment
        stack: TcpStack
        streamed: bool
        buffered_bytes: int
        peak_buffer: int
        cache: ResponseCache | None
        retries: RetryConfig | None
        outlier: OutlierDetector | None
        affinity: CookieAffinity | None
        reports: ReportedWeights | None
        _attempts: dict[str, Attempt]

        def buffer(self, delta: int) -> None:
            """Count ``delta`` bytes more (or fewer) held in memory."""

        def release(self, upstream: Upstream, now: float) -> None:
            """Give ``upstream`` back to its pool (or to a waiting request)."""

        def _backend_failed(self, backend: BackendRef, now: float) -> None: ...
        def _cacheable(self, req: HttpRequest, rule: Rule | None) -> bool: ...
        def _done(self, req: HttpRequest) -> None: ...
        def _may_retry(self, req: HttpRequest) -> bool: ...
        def _retry(self, client: ClientSide, req: HttpRequest, now: float) -> None: ...

    def _reply(self, client: ClientSide, resp: HttpResponse, now: float) -> None:
        if client.conn.state in _SENDABLE and not client.dead:
            client.channel.send(resp, now)
        self._finished(client, now)

    def _finished(self, client: ClientSide, now: float) -> None:
        client.in_flight -= 1
        if client.closing and not client.in_flight:
            client.channel.then(lambda: self._close(client.conn))

    def _close(self, conn: TcpConnection) -> None:
        if conn.state in _SENDABLE:
            conn.close(self.env.now)
            self.stack.flush(conn)


def response_bytes(
    upstream: Upstream, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float
) -> None:
    """Response bytes from a backend (the upstream's ``on_data``): hold or relay them."""
    lb = upstream.lb
    channel = upstream.channel
    if not lb.streamed or (channel is not None and channel.tls):  # not streams(upstream)
        # lb.buffer(nbytes), written out: this runs for every segment of a response.
        held = lb.buffered_bytes = lb.buffered_bytes + nbytes
        if held > lb.peak_buffer:
            lb.peak_buffer = held
        return
    client = upstream.client
    if client is not None and client.conn.state in _SENDABLE:
        upstream.relayed += nbytes
        req = upstream.request
        attempt = lb._attempts.get(req.request_id) if req is not None else None
        if ends and lb.affinity is not None and attempt is not None:
            ends = lb.affinity.stamp_ends(ends, attempt.headers)
        client.channel.relay(nbytes, ends, not push, now)


def response_arrived(
    upstream: Upstream, conn: TcpConnection, resp: HttpResponse, first_byte: float, now: float
) -> None:
    """A backend's whole response arrived (the upstream's ``on_message``): complete the request.

    Its latency goes to the algorithm, a 5xx to outlier detection and perhaps a
    retry, a cacheable answer to the cache; the connection goes back to its pool
    and the response (if held) to the client. The steps that only act when a
    feature is configured are skipped by a test of it: the common case (no
    retries, cache, affinity or reports, a 2xx) costs no call of the proxy's
    beyond the algorithm's feedback and the pool's idle timeout.
    """
    lb = upstream.lb
    client, req = upstream.client, upstream.request
    backend = upstream.backend
    channel = upstream.channel
    streamed = lb.streamed and not (channel is not None and channel.tls)  # streams(upstream)
    upstream.client = upstream.request = None
    backend.active -= 1
    attempt = None
    if req is not None:
        # Latency feedback goes to the rule that chose this backend (a backend may
        # serve several routes, each with its own algorithm).
        rule = upstream.rule
        if rule is not None:
            rule.algorithm.on_complete(backend, now, now - upstream.sent_at)
        attempts = lb._attempts
        if attempts:  # none kept on the fused path (l7_requests)
            attempt = attempts.get(req.request_id)
        if lb.reports is not None and attempt is not None:
            lb.reports.observe(attempt.rule.algorithm, backend.name, resp)
    status = resp.status
    if status is not None and status >= 500:
        lb._backend_failed(backend, now)
        retries = lb.retries
        retry = retries is not None and retries.on_5xx and not upstream.relayed
        if retry and client is not None and req is not None and lb._may_retry(req):
            lb.buffer(-resp.size if not streamed else 0)
            lb.release(upstream, now)
            lb._retry(client, req, now)
            return
    elif lb.outlier is not None:
        lb.outlier.success(backend, now)
    if req is not None:
        cache = lb.cache
        if cache is not None and lb._cacheable(req, attempt.rule if attempt else None):
            cache.store(req.method, req.path, resp.size, resp.status, backend.name, now)
        if lb._attempts:
            lb._done(req)
    if not upstream.dead:
        pool = lb.pools[backend.name]
        if pool.waiters:
            lb.release(upstream, now)
        else:  # lb.release(upstream, now), its common case written out
            upstream.idle_since = now
            pool.idle.append(upstream)
            lb._idle_deadlines.add(now + lb.idle_timeout, (upstream, now))
    if streamed:
        if client is not None:
            lb._finished(client, now)
        return
    # lb.buffer(-resp.size), written out.
    held = lb.buffered_bytes = lb.buffered_bytes - resp.size
    if held > lb.peak_buffer:
        lb.peak_buffer = held
    if client is None or req is None:
        return
    if lb.affinity is not None and attempt is not None:
        resp = lb.affinity.stamp(resp, attempt.headers)
    # lb._reply(client, resp, now), written out with PlainChannel.send.
    cconn = client.conn
    if cconn.state in _SENDABLE and not client.dead:
        cchannel = client.channel
        if cchannel.tls:
            cchannel.send(resp, now)
        else:
            cconn.send(resp.size, resp, now)
            lb.stack.flush(cconn)
    client.in_flight -= 1  # lb._finished(client, now), written out
    if client.closing and not client.in_flight:
        cchannel = client.channel
        cchannel.then(lambda: lb._close(cconn))
