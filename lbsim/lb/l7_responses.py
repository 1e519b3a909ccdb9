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

__all__ = ["Responses"]


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

    def response_bytes(
        self, upstream: Upstream, nbytes: int, ends: Any, push: bool, now: float
    ) -> None:
        """Response bytes from a backend: hold them, or relay them at once (streamed)."""
        client = upstream.client
        channel = upstream.channel
        if not self.streamed or (channel is not None and channel.tls):  # not _streams()
            # buffer(nbytes), written out: this runs for every segment of a response.
            held = self.buffered_bytes = self.buffered_bytes + nbytes
            if held > self.peak_buffer:
                self.peak_buffer = held
        elif client is not None and client.conn.state in _SENDABLE:
            upstream.relayed += nbytes
            attempt = self._attempts.get(upstream.request.request_id) if upstream.request else None
            if ends and self.affinity is not None and attempt is not None:
                ends = self.affinity.stamp_ends(ends, attempt.headers)
            client.channel.relay(nbytes, ends, not push, now)

    def _streams(self, upstream: Upstream) -> bool:
        """Whether a response from ``upstream`` is relayed as it arrives.

        Over a re-encrypted upstream the balancer must first decrypt a record, so
        the response is relayed message by message, as if buffered.
        """
        channel = upstream.channel
        return self.streamed and not (channel is not None and channel.tls)

    def response_complete(self, upstream: Upstream, resp: HttpResponse, now: float) -> None:
        """A backend's whole response has arrived: relay it (if held), free the connection."""
        client, req = upstream.client, upstream.request
        backend = upstream.backend
        streamed = self._streams(upstream)
        upstream.client = upstream.request = None
        backend.active -= 1
        # Latency feedback goes to the rule that chose this backend (a backend may
        # serve several routes, each with its own algorithm).
        attempt = self._attempts.get(req.request_id) if req is not None else None
        if attempt is not None:
            attempt.rule.algorithm.on_complete(backend, now, now - upstream.sent_at)
            if self.reports is not None:
                self.reports.observe(attempt.rule.algorithm, backend.name, resp)
        if resp.status is not None and resp.status >= 500:
            self._backend_failed(backend, now)
            retry = self.retries is not None and self.retries.on_5xx and not upstream.relayed
            if retry and client is not None and req is not None and self._may_retry(req):
                self.buffer(-resp.size if not streamed else 0)
                self.release(upstream, now)
                self._retry(client, req, now)
                return
        elif self.outlier is not None:
            self.outlier.success(backend, now)
        if req is not None:
            if self.cache is not None and self._cacheable(req, attempt.rule if attempt else None):
                self.cache.store(req.method, req.path, resp.size, resp.status, backend.name, now)
            self._done(req)
        self.release(upstream, now)
        if streamed:
            if client is not None:
                self._finished(client, now)
            return
        self.buffer(-resp.size)
        if client is not None and req is not None:
            if self.affinity is not None and attempt is not None:
                resp = self.affinity.stamp(resp, attempt.headers)
            self._reply(client, resp, now)

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
