"""Field types of the scenario schema: quantities with units, distributions, names.

Theory of operation:
    Each type here is an ``Annotated`` alias that pydantic understands: a
    ``BeforeValidator`` turns the text of the scenario file (``"10ms"``,
    ``"exp(5ms)"``) into the internal value (seconds, bytes, bits/s, per second, or a
    distribution object) and checks its range with a message in the user's terms;
    a ``PlainSerializer`` used only in JSON mode turns it back into text with units.
    So ``model_dump()`` gives the engine plain numbers while
    ``model_dump(mode="json")`` gives a file a person can read and load again.
    Distributions dump as their canonical text in both modes (pydantic would
    otherwise flatten the dataclass into a dict of its fields and lose the family).

    Plain integers and numbers are strict: YAML ``true`` or ``"5"`` is not a count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Final

from pydantic import (
    BeforeValidator,
    Field,
    InstanceOf,
    PlainSerializer,
    Strict,
)

from lbsim.scenario.distributions import Distribution
from lbsim.scenario.grammar import parse_distribution
from lbsim.scenario.units import (
    format_bandwidth,
    format_duration,
    format_rate,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
    show_value,
)

__all__ = [
    "ArrivalRate",
    "Bandwidth",
    "Duration",
    "Headers",
    "HttpMethod",
    "Identifier",
    "NonNegativeInt",
    "ParamValue",
    "Params",
    "PortRange",
    "PositiveDuration",
    "PositiveFloat",
    "PositiveInt",
    "RequestPath",
    "Size",
    "SizeDistribution",
    "Text",
    "TimeDistribution",
    "UrlPrefix",
]

_IDENTIFIER_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_METHOD_RE: Final = re.compile(r"[A-Z][A-Z0-9_-]*")
_PLACEHOLDER_RE: Final = re.compile(r"\{[^}]*\}?")


def _checked(parse: Callable[[object], float], positive: bool) -> Callable[[object], float]:
    """Wrap a unit parser with a range check that quotes the user's own text."""

    def validate(value: object) -> float:
        number = parse(value)
        if positive and not number > 0:
            raise ValueError(f"must be greater than 0, got {show_value(value)}")
        if number < 0:
            raise ValueError(f"must not be negative, got {show_value(value)}")
        return number

    return validate


def _size(value: object) -> int:
    size = parse_size(value)
    if size < 0:
        raise ValueError(f"must not be negative, got {show_value(value)}")
    return size


def _identifier(value: object) -> object:
    if isinstance(value, str) and not _IDENTIFIER_RE.fullmatch(value):
        raise ValueError(
            f'expected a name made of letters, digits, "_" and "-", got {show_value(value)}'
        )
    return value


def _non_blank(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


def _http_method(value: object) -> object:
    if isinstance(value, str) and not _METHOD_RE.fullmatch(value):
        raise ValueError(
            f'expected an HTTP method in capitals such as "GET" or "POST", got {show_value(value)}'
        )
    return value


def _url_prefix(value: object) -> object:
    if isinstance(value, str) and (not value.startswith("/") or any(c.isspace() for c in value)):
        raise ValueError(f'expected a path starting with "/" (no spaces), got {show_value(value)}')
    return value


def _request_path(value: object) -> object:
    _url_prefix(value)
    if isinstance(value, str):
        for placeholder in _PLACEHOLDER_RE.findall(value):
            if placeholder != "{n}":
                raise ValueError(
                    f'unknown placeholder "{placeholder}" in {show_value(value)}; '
                    'the only placeholder is "{n}" (a random id)'
                )
    return value


def _port_range(value: object) -> tuple[int, int]:
    """Parse ``"32768-60999"`` (or a two-item list) into ``(low, high)``."""
    parts: list[object]
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("-")]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = []
    try:
        low, high = (int(str(p)) for p in parts) if len(parts) == 2 else (0, -1)
    except ValueError:
        low, high = 0, -1
    if not 1 <= low <= high <= 65535:
        raise ValueError(
            f'expected a port range such as "32768-60999" (1-65535, low <= high), '
            f"got {show_value(value)}"
        )
    return (low, high)


def _format_port_range(value: tuple[int, int]) -> str:
    return f"{value[0]}-{value[1]}"


def _time_distribution(value: object) -> Distribution:
    return parse_distribution(value, "time")


def _size_distribution(value: object) -> Distribution:
    return parse_distribution(value, "size")


def _as_json(formatter: Callable[[float], str]) -> PlainSerializer:
    return PlainSerializer(formatter, return_type=str, when_used="json")


Duration = Annotated[
    float,
    BeforeValidator(_checked(parse_duration, positive=False)),
    _as_json(format_duration),
]
"""A duration ≥ 0 in seconds, written with a unit (``"10ms"``) or as 0."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(_checked(parse_duration, positive=True)),
    _as_json(format_duration),
]
"""A duration > 0 in seconds."""

Size = Annotated[int, BeforeValidator(_size), _as_json(format_size)]
"""A size ≥ 0 in bytes, written with a unit (``"20KB"``) or as 0."""

Bandwidth = Annotated[
    float,
    BeforeValidator(_checked(parse_bandwidth, positive=True)),
    _as_json(format_bandwidth),
]
"""A bandwidth > 0 in bits per second (``"100Mbps"``)."""

ArrivalRate = Annotated[
    float,
    BeforeValidator(_checked(parse_rate, positive=True)),
    _as_json(format_rate),
]
"""An arrival rate > 0 in events per second (``"80/s"``)."""

TimeDistribution = Annotated[
    InstanceOf[Distribution],
    BeforeValidator(_time_distribution),
    PlainSerializer(str, return_type=str),
]
"""A distribution of durations (``"exp(5ms)"``); values in seconds."""

SizeDistribution = Annotated[
    InstanceOf[Distribution],
    BeforeValidator(_size_distribution),
    PlainSerializer(str, return_type=str),
]
"""A distribution of sizes (``"lognormal(mean=20KB, cv=1)"``); values in bytes."""

Identifier = Annotated[str, Strict(), BeforeValidator(_identifier)]
"""A name of letters, digits, ``_`` and ``-`` (no dots, so it fits in a key path)."""

Text = Annotated[str, Strict(), BeforeValidator(_non_blank)]
"""Non-empty text."""

HttpMethod = Annotated[str, Strict(), BeforeValidator(_http_method)]
"""An HTTP method token in capitals."""

UrlPrefix = Annotated[str, Strict(), BeforeValidator(_url_prefix)]
"""A URL path (prefix) starting with ``/``."""

RequestPath = Annotated[str, Strict(), BeforeValidator(_request_path)]
"""A URL path starting with ``/`` that may contain the placeholder ``{n}``."""

PortRange = Annotated[
    tuple[int, int],
    BeforeValidator(_port_range),
    PlainSerializer(_format_port_range, return_type=str, when_used="json"),
]
"""A range of TCP ports, written ``"low-high"``."""

ParamValue = Annotated[bool, Strict()] | Annotated[int, Strict()] | Annotated[float, Strict()] | str
"""A scalar parameter value (number, text or boolean)."""


def _params_in(value: object) -> object:
    """A mapping of parameters becomes sorted (name, value) pairs (hashable)."""
    if isinstance(value, Mapping):
        return tuple(sorted(value.items(), key=lambda item: str(item[0])))
    return value


def _params_out(value: tuple[tuple[str, object], ...]) -> dict[str, object]:
    return dict(value)


_HEADER_NAME_RE: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def _header_name(value: object) -> object:
    if isinstance(value, str) and not _HEADER_NAME_RE.fullmatch(value):
        raise ValueError(f"expected an HTTP header name such as X-User, got {show_value(value)}")
    return value


def _header_value(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a header value (text), got {show_value(value)}")
    return str(value)


Headers = Annotated[
    tuple[
        tuple[
            Annotated[str, Strict(), BeforeValidator(_header_name)],
            Annotated[str, BeforeValidator(_header_value)],
        ],
        ...,
    ],
    BeforeValidator(_params_in),
    PlainSerializer(_params_out),
]
"""HTTP header fields, written as a mapping ``{Name: value}``; stored as sorted pairs."""

Params = Annotated[
    tuple[tuple[Annotated[str, Strict(), BeforeValidator(_identifier)], ParamValue], ...],
    BeforeValidator(_params_in),
    PlainSerializer(_params_out),
]
"""Named scalar parameters, written as a mapping; stored as sorted pairs so models
stay hashable."""

PositiveInt = Annotated[int, Strict(), Field(ge=1)]
"""A whole number ≥ 1."""

NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
"""A whole number ≥ 0."""

PositiveFloat = Annotated[float, Strict(), Field(gt=0)]
"""A (finite) number > 0; whole numbers are accepted."""
