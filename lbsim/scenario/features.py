"""Scenario models for TLS and the layer-7 balancer's edge features.

Theory of operation: these are the optional blocks a scenario adds to a client
group (``tls``), a backend group (``tls_key``) or a layer-7 balancer (``tls``,
``limits``, ``cache``, ``auth``, ``block``). They are frozen pydantic models like
the rest of the schema, validated with the same error paths; defaults are the
values common balancers ship with, stated next to each field.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lbsim.scenario.fields import (
    Headers,
    HttpMethod,
    Identifier,
    PositiveDuration,
    Size,
)
from lbsim.scenario.units import parse_duration

TlsVersion = Literal["1.2", "1.3"]
KeyType = Literal["rsa2048", "ecdsa_p256"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TlsClientConfig(_Model):
    """TLS on a client group's connections.

    Attributes:
        version: ``"1.2"`` (full handshake: 2 round trips before the request) or
            ``"1.3"`` (1 round trip).
        resumption: Keep the session ticket the server issues and resume with it
            on the next connection (1 round trip, no certificate, cheaper for the
            server) while it is valid and the same server can accept it.
    """

    version: TlsVersion
    resumption: bool = False


class TlsServerConfig(_Model):
    """The certificate and TLS settings of a layer-7 balancer that terminates TLS.

    Attributes:
        key: Certificate key type; decides the server's handshake CPU cost.
        reencrypt: Also use TLS on the balancer's connections to the backends.
        ticket_lifetime: How long a session ticket can be resumed, seconds.
    """

    key: KeyType = "ecdsa_p256"
    reencrypt: bool = False
    ticket_lifetime: PositiveDuration = parse_duration("2h")


class LimitsConfig(_Model):
    """What a layer-7 balancer refuses to buffer.

    Attributes:
        max_request: Largest request accepted; a longer one is answered 413 as soon
            as it grows past the limit (nginx ``client_max_body_size``: 1 MB).
        max_buffer: Most request and response bytes held in memory at once; a
            request that would exceed it is answered 503.
        request_timeout: A request whose bytes have not all arrived this long after
            its first byte is answered 408 (nginx ``client_body_timeout``: 60 s).
    """

    max_request: Size | None = None
    max_buffer: Size | None = None
    request_timeout: PositiveDuration | None = None


class CacheConfig(_Model):
    """A layer-7 balancer's response cache.

    Attributes:
        size: Bytes of responses it may hold (least recently used evicted first).
        ttl: How long a stored response is served before it is fetched again.
        methods: Cacheable request methods.
    """

    size: Size = Field(gt=0)
    ttl: PositiveDuration = parse_duration("60s")
    methods: tuple[HttpMethod, ...] = ("GET", "HEAD")


class AuthConfig(_Model):
    """Authentication at the edge.

    Attributes:
        required: Requests must carry a valid token (else 401), unless their route
            says otherwise.
    """

    required: bool = True


class BlockConfig(_Model):
    """Requests a layer-7 balancer refuses with 403 (outcome ``blocked``).

    Attributes:
        clients: Client groups to block (by the address range each group uses).
        headers: Header values to block, e.g. ``{X-Debug: "1"}``.
        user_agents: Substrings of the User-Agent header to block.
    """

    clients: tuple[Identifier, ...] = ()
    headers: Headers = ()
    user_agents: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_not_empty(self) -> Self:
        if not (self.clients or self.headers or self.user_agents):
            raise ValueError("give at least one of clients, headers or user_agents to block")
        return self
