"""Client-address headers a layer-7 proxy adds to the requests it forwards.

Theory of operation: a reverse proxy terminates the client's TCP connection and
opens its own to the backend, so the backend's peer address is the proxy's; the
client's address survives only if the proxy writes it into the request. The de
facto header is ``X-Forwarded-For: client, proxy1, ...``: each proxy appends the
address of the peer it received the request from, so behind two tiers the list
reads client first, then the first proxy (Mozilla's MDN reference,
"X-Forwarded-For"). RFC 7239 standardises the same as ``Forwarded: for=...;by=...``
with one comma-separated element per proxy (section 4, section 7.1 on appending).

The forwarded request is a copy of the client's with the headers added; it shares
the client request's measurement context, so the backend's notes reach the
request's record. The header travels inside the request's simulated size (the
capture encoder spends padding bytes on it): sizes and timings are those of the
client's request, with or without the header.
"""

from __future__ import annotations

import dataclasses
import operator

from lbsim.app.http import HttpRequest, new_http_request
from lbsim.net.addresses import ip_text

__all__ = ["forwarded_request"]

XFF = "X-Forwarded-For"
FORWARDED = "Forwarded"
_XFF_LOWER = XFF.lower()

# A request's constructor arguments, read in one call: copying a request for every
# request forwarded is on the per-request path, where ``dataclasses.replace`` walks
# the fields in Python (and a frozen class's own constructor sets each through
# ``object.__setattr__``; ``new_http_request`` builds the same value about 4x faster).
_FIELDS = tuple(f.name for f in dataclasses.fields(HttpRequest) if f.init)
_field_values = operator.attrgetter(*_FIELDS)
_HEADERS = _FIELDS.index("headers")


def _append(
    headers: tuple[tuple[str, str], ...], name: str, value: str
) -> tuple[tuple[str, str], ...]:
    """``headers`` with ``value`` appended to field ``name`` (added at the end if absent).

    The value goes onto the field's *last* line: a field sent as several lines
    is read as their values joined in order (RFC 9110, section 5.3), so that is
    where the end of the list is.
    """
    if not headers:
        return ((name, value),)
    lower = name.lower()
    out = list(headers)
    for i in range(len(out) - 1, -1, -1):
        existing, old = out[i]
        if existing.lower() == lower:
            out[i] = (existing, f"{old}, {value}")
            return tuple(out)
    out.append((name, value))
    return tuple(out)


def forwarded_request(
    req: HttpRequest, peer_ip: int, proxy_ip: int, *, xff: bool, forwarded: bool
) -> HttpRequest:
    """The request as the proxy writes it to a backend.

    Args:
        req: The request as it arrived.
        peer_ip: The address the proxy received it from (the client, or the
            tier in front).
        proxy_ip: The proxy's own address towards the backend (``by=``).
        xff: Append ``peer_ip`` to ``X-Forwarded-For``.
        forwarded: Append ``for=peer_ip;by=proxy_ip`` to ``Forwarded``.

    Returns:
        ``req`` itself when no header is added, else a copy with them.
    """
    if not (xff or forwarded):
        return req
    headers = req.headers
    peer = ip_text(peer_ip)
    if xff:
        # _append(headers, XFF, peer), its common case (no such field yet) written out.
        for name, _ in headers:
            if name.lower() == _XFF_LOWER:
                headers = _append(headers, XFF, peer)
                break
        else:
            headers = (*headers, (XFF, peer))
    if forwarded:
        headers = _append(headers, FORWARDED, f"for={peer};by={ip_text(proxy_ip)}")
    values = list(_field_values(req))
    values[_HEADERS] = headers
    return new_http_request(*values)  # dataclasses.replace(req, headers=headers)
