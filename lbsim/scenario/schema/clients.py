"""Client groups and the request mix they send.

Theory of operation:
    A client group is either closed loop (``count`` users, each connecting, sending
    ``requests_per_connection`` requests with think times, and closing) or open
    loop (sessions arriving as a Poisson process at ``rate``); the validators make
    sure exactly one is given and that the keys of one protocol (``streams``,
    ``connections``, ``max_connection_age`` for multiplexed clients) are not set on
    another. Defaults that depend on other keys (``hosts`` on the loop type,
    ``user`` on the group's name) are filled in during validation.
"""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lbsim.scenario.bounds import check_bound
from lbsim.scenario.distributions import Constant
from lbsim.scenario.errors import KeyedValueError
from lbsim.scenario.features import TlsClientConfig
from lbsim.scenario.fields import (
    ArrivalRate,
    Headers,
    HttpMethod,
    Identifier,
    NonNegativeInt,
    PositiveDuration,
    PositiveFloat,
    PositiveInt,
    RequestPath,
    SizeDistribution,
    TimeDistribution,
)
from lbsim.scenario.schema.base import SchemaModel
from lbsim.scenario.schema.network import LinkConfig

__all__ = ["BODYLESS_METHODS", "OPEN_LOOP_DEFAULT_HOSTS", "ClientGroup", "RequestSpec"]

OPEN_LOOP_DEFAULT_HOSTS: Final = 64
"""Client addresses of an open-loop client group unless ``hosts`` is given."""

#: HTTP methods whose requests carry no body: all their bytes are header bytes.
BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class RequestSpec(SchemaModel):
    """One kind of request in a client group's mix.

    Attributes:
        method: HTTP method.
        path: URL path; ``{n}`` is replaced by a random id in 1..``ids``.
        weight: Relative frequency within the mix.
        size: Request bytes on the wire.
        response: Response bytes on the wire.
        service_time: Overrides the backend group's service time for this request.
        ids: Range of ids that replace ``{n}``.
        zipf: Popularity of the ids: None draws them uniformly, a number ``s``
            draws id ``k`` with probability proportional to ``1 / k**s`` (a few hot
            objects, a long tail: what makes caches work).
        headers: Extra header fields of this request.
    """

    method: HttpMethod = "GET"
    path: RequestPath
    weight: PositiveFloat = 1.0
    size: SizeDistribution = Constant(400.0, kind="size")
    response: SizeDistribution
    service_time: TimeDistribution | None = None
    ids: PositiveInt = 1000
    zipf: PositiveFloat | None = None
    headers: Headers = ()


class ClientGroup(SchemaModel):
    """A population of clients with one workload.

    Closed loop (``count``): each of ``count`` users repeatedly connects, sends
    ``requests_per_connection`` requests with think times between them, and closes.
    Open loop (``rate``): sessions (connections) arrive as a Poisson process.

    Attributes:
        name: Group name.
        count: Number of users (closed loop).
        rate: Session arrival rate, per second (open loop).
        hosts: Number of client IP addresses.
        protocol: ``http`` (HTTP/1.1: one request at a time per connection),
            ``raw`` (request/response byte exchanges that are not HTTP, e.g. a
            database protocol) or ``multiplexed`` (many concurrent requests
            interleaved on one long-lived connection, like gRPC over HTTP/2).
        requests_per_connection: Requests sent on one connection (keep-alive).
        think_time: Pause before each request of a user, seconds.
        tls: TLS on its connections (``"1.2"``, ``"1.3"`` or a mapping with
            ``version`` and ``resumption``); None or false for plain TCP.
        link: This group's access link, replacing ``network.client_link`` for it
            (e.g. slow mobile clients next to broadband ones).
        user: The identity its token stands for (authorization rules name users).
        token: Its Authorization header: ``valid``, ``invalid`` or ``none``.
        user_agent: Its User-Agent header.
        headers: Extra header fields on all its requests; ``{user}`` in a value is
            replaced by the id of the user or session sending it.
        timeout: A request not answered this long after it was issued is given up
            (outcome ``timeout``, the connection is reset); None waits forever.
        retries: Times a failed request (error, timeout, rejected) is tried again, on a new
            connection; its one record counts the attempts.
        streams: Multiplexed, closed loop: request loops running at once on each
            user's connection.
        connections: Multiplexed, open loop: long-lived connections the Poisson
            requests are spread over (default: ``hosts``).
        max_connection_age: Multiplexed only: a connection older than this is
            drained like after an HTTP/2 GOAWAY (its open requests finish on it,
            new ones open a new connection); None keeps connections for the run.
        max_connection_age_jitter: Fraction by which each connection's age limit
            is spread at random (uniform within plus or minus it), so that
            connections opened together do not all cycle at the same moment.
        requests: The request mix.
    """

    name: Identifier
    count: PositiveInt | None = None
    rate: ArrivalRate | None = None
    hosts: PositiveInt = Field(default=None, validate_default=True)
    protocol: Literal["http", "raw", "multiplexed"] = "http"
    requests_per_connection: PositiveInt = 1
    think_time: TimeDistribution = Constant(0.0)
    streams: PositiveInt = 1
    connections: PositiveInt | None = None
    tls: TlsClientConfig | None = None
    link: LinkConfig | None = None
    user: Identifier | None = Field(default=None, validate_default=True)
    token: Literal["valid", "invalid", "none"] = "valid"
    user_agent: str = Field(default="lbsim/0.1", strict=True, min_length=1)
    headers: Headers = ()
    timeout: PositiveDuration | None = None
    retries: NonNegativeInt = 0
    max_connection_age: PositiveDuration | None = None
    max_connection_age_jitter: float = Field(default=0.1, ge=0.0, lt=1.0)
    requests: tuple[RequestSpec, ...] = Field(min_length=1)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_shorthand(cls, value: object) -> object:
        if value is False:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return {"version": str(value)}
        return value

    @field_validator("user", mode="before")
    @classmethod
    def _default_user(cls, value: object, info: ValidationInfo) -> object:
        return info.data.get("name") if value is None else value

    @field_validator("hosts", mode="before")
    @classmethod
    def _default_hosts(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            return value
        count = info.data.get("count")
        return count if count is not None else OPEN_LOOP_DEFAULT_HOSTS

    @model_validator(mode="after")
    def _check_loop(self) -> Self:
        for key, bound in (
            ("count", "users"),
            ("hosts", "hosts"),
            ("rate", "rate"),
            ("streams", "streams"),
            ("connections", "connections"),
            ("retries", "retries"),
        ):
            check_bound(key, bound, getattr(self, key))
        if self.count is not None and self.rate is not None:
            raise ValueError(
                "give either count (closed loop: a number of users) or rate "
                "(open loop: sessions per second), not both"
            )
        if self.count is None and self.rate is None:
            raise ValueError(
                "give either count (closed loop: a number of users, e.g. 50) or rate "
                '(open loop: sessions per second, e.g. "80/s")'
            )
        if self.streams != 1 and (self.protocol != "multiplexed" or self.count is None):
            raise KeyedValueError(
                "streams",
                "applies only to multiplexed closed-loop clients (protocol: multiplexed "
                "with count); HTTP/1.1 and raw connections carry one request at a time",
            )
        if self.connections is not None and (self.protocol != "multiplexed" or self.rate is None):
            raise KeyedValueError(
                "connections",
                "applies only to multiplexed open-loop clients (protocol: multiplexed "
                "with rate): the Poisson requests share that many long-lived connections",
            )
        if self.max_connection_age is not None and self.protocol != "multiplexed":
            raise KeyedValueError(
                "max_connection_age",
                "applies only to multiplexed clients (protocol: multiplexed): an HTTP/1.1 "
                "or raw connection is already replaced every requests_per_connection "
                "requests, and there are no streams to drain",
            )
        return self
