"""HTTP/1.1 messages as values, and the fields a layer-7 balancer reads from them.

Theory of operation: the simulator does not move real bytes, so an HTTP message is
a frozen value carried as a *mark* at the byte offset where it ends in the TCP
stream (see :mod:`lbsim.transport.tcp`). Its ``size`` is the number of bytes it
occupies on the wire, head and body together. Only a component that has
reassembled the stream up to that offset gets the value, which is exactly the
information an HTTP parser would have produced at that moment: an L7 balancer
"parses" a request when its last byte arrives, while an L4 balancer only ever sees
segments and never gets at the request.

A request also points to a :class:`RequestContext`, a mutable trace that the
components it passes through annotate (which backend served it, when its first
byte arrived there, ...). The context is for measurement only: no component makes
a decision based on another component's notes in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbsim.records import fast_constructor


@dataclass(slots=True)
class RequestContext:
    """Measurement notes written along a request's path (never read for decisions).

    Attributes:
        backend: Backend instance that served the request.
        t_backend_first_byte: First request byte reached the backend.
        t_backend_last_byte: Last request byte reached the backend.
        t_lb_first_byte: First request byte reached the balancer (L7).
        t_lb_last_byte: Last request byte reached the balancer (L7).
        queue_wait: Time waiting for a backend worker.
        service_time: Time a worker spent on it.
        cache_hit: Answered by a balancer cache (``None`` without a cache).
        new_upstream: The balancer opened a backend connection for it (L7 only).
        upstream_tries: Tries the L7 balancer made (more than 1: it retried).
        client_ip_seen: The peer address the serving backend saw on its connection,
            or the client address a PROXY protocol header on it named.
        forwarded_for: The ``X-Forwarded-For`` value the serving backend received.
    """

    backend: str | None = None
    t_backend_first_byte: float | None = None
    t_backend_last_byte: float | None = None
    t_lb_first_byte: float | None = None
    t_lb_last_byte: float | None = None
    queue_wait: float | None = None
    service_time: float | None = None
    cache_hit: bool | None = None
    new_upstream: bool | None = None
    upstream_tries: int | None = None
    client_ip_seen: str | None = None
    forwarded_for: str | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the client sent it.

    Attributes:
        request_id: Stable id (same in every variant of a scenario).
        method: HTTP method.
        path: Request target.
        size: Bytes on the wire (request line, headers and body).
        response_size: Bytes of the response the backend will produce.
        service_u: Uniform(0,1) draw that fixes the service time by inverse
            transform, so every variant serves this request for the same time.
        service_time: A request-specific service-time distribution, or ``None`` to
            use the serving backend group's.
        headers: Header fields as ``(name, value)`` pairs.
        ctx: Measurement notes.
    """

    request_id: str
    method: str
    path: str
    size: int
    response_size: int
    service_u: float
    service_time: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    ctx: RequestContext = field(default_factory=RequestContext, compare=False)

    def respond(self, status: int, size: int, server: str) -> HttpResponse:
        """A response to this request with ``status`` and ``size`` bytes."""
        return _new_response(self, status, size, server)

    def head(self) -> str:
        """The request line and headers as they would appear on the wire."""
        lines = [f"{self.method} {self.path} HTTP/1.1", "Host: www.example.com"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        return "\r\n".join(lines) + "\r\n\r\n"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response to one request.

    Attributes:
        request: The request it answers; None when the balancer answers a request
            it has not finished reading (a 413/408/503 while bytes still arrive):
            as in HTTP/1.1 it then answers the connection's oldest open request.
        status: Status code.
        size: Bytes on the wire (status line, headers and body).
        server: Who produced it (backend name, or the balancer for local answers).
        headers: Header fields as ``(name, value)`` pairs (e.g. an inserted
            ``Set-Cookie``).
    """

    request: HttpRequest | None
    status: int
    size: int
    server: str
    headers: tuple[tuple[str, str], ...] = ()

    def head(self) -> str:
        """The status line and headers as they would appear on the wire."""
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, '')}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        return "\r\n".join(lines) + "\r\n\r\n"


#: Fast constructors of the messages built per request (same values as the classes').
new_http_request = fast_constructor(HttpRequest)
_new_response = fast_constructor(HttpResponse)

#: Reason phrases for the status codes the simulator produces.
REASONS = {
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Content Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: Size of a short error response generated by a balancer or an overloaded server.
ERROR_RESPONSE_SIZE = 200


def field_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The value of header field ``name``, its field lines combined in order.

    A field sent as several lines means the same as one line with their values
    joined by commas (RFC 9110, section 5.3), which is how a list such as
    ``X-Forwarded-For`` must be read.

    Args:
        headers: ``(name, value)`` pairs as the message carries them.
        name: Field name (compared without regard to case).

    Returns:
        The combined value, or None if the field is absent.
    """
    lower = name.lower()
    found: str | None = None
    for key, value in headers:
        if key.lower() == lower:
            found = value if found is None else f"{found}, {value}"
    return found
