"""Raw request/response byte exchanges: a protocol that is not HTTP.

Theory of operation: some services speak their own binary protocol (a database,
a cache, a message broker). A balancer that does not understand the protocol can
still carry it if it works on connections and bytes: an L4 balancer passes these
exchanges through exactly like HTTP (concept C10), while an L7 balancer, which
must parse each request to route it, cannot balance them at all (C20). A raw
request is a message of ``size`` bytes answered by one of ``response_size`` bytes;
it has no method, path or status code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbsim.app.http import RequestContext


@dataclass(frozen=True, slots=True)
class RawRequest:
    """One request of a raw protocol.

    Attributes:
        request_id: Stable id (same in every variant of a scenario).
        label: What the workload calls this kind of exchange (for records).
        size: Bytes on the wire.
        response_size: Bytes of the answer.
        service_u: Uniform(0,1) draw that fixes the service time (as HTTP requests).
        service_time: A request-specific service-time distribution, or ``None``.
        ctx: Measurement notes.
    """

    request_id: str
    label: str
    size: int
    response_size: int
    service_u: float
    service_time: Any = None
    ctx: RequestContext = field(default_factory=RequestContext, compare=False)

    method = "RAW"

    @property
    def path(self) -> str:
        """The label, shown in the ``path`` column of records."""
        return self.label

    def respond(self, status: int, size: int, server: str) -> RawResponse:
        """The answer to this request (``status`` is ignored: raw has none)."""
        return RawResponse(self, size, server)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """The answer to a raw request.

    Attributes:
        request: The request it answers.
        size: Bytes on the wire.
        server: Who produced it.
    """

    request: RawRequest
    size: int
    server: str

    status = None
