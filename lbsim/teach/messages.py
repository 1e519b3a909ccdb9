"""What the application messages in a traced segment are, in words a student reads.

Theory of operation: a segment's ``ends`` lists the messages whose last byte it
carries (see :mod:`lbsim.net.segment`). They are engine values of several kinds:
HTTP requests and responses (:mod:`lbsim.app.http`), raw-protocol exchanges
(:mod:`lbsim.app.raw`) and, when TLS is on, TLS values (:mod:`lbsim.app.tls`): a
handshake flight, or a record wrapping an application message in ``inner``. This
module recognises them by the attributes they carry rather than by their classes,
so the teaching views keep working while those modules grow (a new kind of message
is described generically instead of breaking the view).

* :func:`request_id_of` ties a message to the request it belongs to;
* :func:`describe` says what each layer of the message shows: the L7 line (an HTTP
  request line, a status line, a raw exchange) and, for TLS, the L6 line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "MessageText",
    "describe",
    "is_request",
    "request_id_of",
    "tls_version",
    "unwrap",
]


@dataclass(frozen=True, slots=True)
class MessageText:
    """What a message shows at each layer.

    Attributes:
        l7: The application's view: request line, status line, or raw exchange.
        headers: Header field names of an HTTP message (empty otherwise).
        l6: The TLS view (``None`` when the message is not protected by TLS).
        size: Bytes the message occupies in the TCP stream.
    """

    l7: str
    headers: tuple[str, ...]
    l6: str | None
    size: int


def unwrap(message: Any) -> Any:
    """The application message inside a TLS record, or ``message`` itself."""
    inner = getattr(message, "inner", None)
    return unwrap(inner) if inner is not None else message


def tls_version(message: Any) -> str | None:
    """The TLS version of a TLS value (record or handshake flight), else ``None``."""
    if getattr(message, "inner", None) is not None or hasattr(message, "kind"):
        version = getattr(message, "version", None)
        return str(version) if version is not None else None
    return None


def request_id_of(message: Any) -> str | None:
    """The id of the request a message belongs to (the request itself or its answer).

    Returns:
        The request id, or ``None`` for messages tied to no request (a TLS
        handshake flight, for instance).
    """
    message = unwrap(message)
    request_id = getattr(message, "request_id", None)
    if isinstance(request_id, str):
        return request_id
    request = getattr(message, "request", None)
    if request is not None:
        return request_id_of(request)
    return None


def is_request(message: Any) -> bool:
    """Whether ``message`` (or what it wraps) is a request rather than a response."""
    return isinstance(getattr(unwrap(message), "request_id", None), str)


def _first_line(head: str) -> tuple[str, tuple[str, ...]]:
    lines = [line for line in head.split("\r\n") if line]
    names = tuple(line.split(":", 1)[0] for line in lines[1:])
    return (lines[0] if lines else ""), names


def describe(message: Any) -> MessageText:
    """Describe a message layer by layer.

    Args:
        message: A value from a segment's ``ends``.

    Returns:
        The L7 (and, for TLS, L6) text.
    """
    size = int(getattr(message, "size", 0))
    l6 = None
    version = tls_version(message)
    if version is not None:
        inner = getattr(message, "inner", None)
        if inner is None:
            kind = getattr(message, "kind", "handshake")
            return MessageText(f"(none: TLS handshake {kind})", (), f"TLS {version} {kind}", size)
        overhead = size - int(getattr(inner, "size", size))
        l6 = f"TLS {version} record(s), {size} B (+{overhead} B)"
    app = unwrap(message)
    head = getattr(app, "head", None)
    if callable(head) and getattr(app, "method", None) != "RAW":
        line, names = _first_line(str(head()))
        return MessageText(line, names, l6, size)
    if getattr(app, "method", None) == "RAW" or type(app).__name__.startswith("Raw"):
        label = getattr(app, "label", None) or getattr(getattr(app, "request", None), "label", "")
        what = "request" if is_request(app) else "response"
        app_size = int(getattr(app, "size", size))
        return MessageText(f"raw {what} {label!r}, {app_size} B (not HTTP)", (), l6, size)
    return MessageText(type(app).__name__, (), l6, size)
