"""Cookie affinity at layer 7: the balancer names the backend in a cookie it inserts.

Theory of operation (HAProxy ``cookie SERVERID insert``; Envoy's hash policy with
a generated cookie is the hashing cousin): the first response a user gets carries
``Set-Cookie: SERVERID=<backend>``; the user's client keeps it and returns it on
every later request, on whatever connection. A request whose cookie names a
backend the route may use now -- healthy, not ejected -- goes to that backend
without asking the algorithm (a *hit*). A request without the cookie is a
*miss*: the algorithm picks, and the response sets the cookie. A cookie naming a
backend that is down, ejected or gone is a *break*: affinity cannot hold, the
algorithm picks another, and the response sets the new cookie, so the user
sticks to the new backend from then on.

This gives per-*user* stickiness at layer 7 across connections, the request-level
answer to layer 4's per-*connection* stickiness; a layer-4 balancer cannot do it,
since it never reads or writes an HTTP header. Only the first try of a request is
counted per answered request, when its response passes the balancer: the
cookie sent named the server (hit), there was none (miss), or it named another
(break: the response carries the new cookie) -- so a request whose sticky
backend failed and that was retried elsewhere counts as a break. The cookie
header's bytes are not added to the modelled message sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from lbsim.app.http import HttpResponse
from lbsim.lb.backends import BackendRef

__all__ = ["CookieAffinity", "cookie_value"]


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie:`` header (``a=1; b=2``), if any."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class CookieAffinity:
    """Inserted-cookie affinity of one layer-7 balancer, with its counters.

    Attributes:
        name: The cookie's name (``SERVERID``).
        hits: Responses from the backend the request's cookie named.
        misses: Responses to requests without the cookie.
        breaks: Responses from another backend than the cookie named (it was down,
            ejected, gone, or failed the request): affinity broke, a new cookie is set.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.misses = 0
        self.breaks = 0

    def choose(
        self, headers: Mapping[str, str], candidates: Sequence[BackendRef]
    ) -> BackendRef | None:
        """The backend the request's cookie names, if usable now; else None (the algorithm picks).

        Args:
            headers: The request's header fields by lower-cased name.
            candidates: Backends the route may use now (healthy, not ejected, not tried).
        """
        wanted = cookie_value(headers.get("cookie"), self.name)
        if wanted is None:
            return None
        for backend in candidates:
            if backend.name == wanted:
                return backend
        return None

    def stamp(self, resp: HttpResponse, headers: Mapping[str, str]) -> HttpResponse:
        """Count the response; add ``Set-Cookie`` when the cookie sent does not name its server."""
        sent = cookie_value(headers.get("cookie"), self.name)
        if sent == resp.server:
            self.hits += 1
            return resp
        if sent is None:
            self.misses += 1
        else:
            self.breaks += 1
        cookie = ("Set-Cookie", f"{self.name}={resp.server}; Path=/")
        return replace(resp, headers=(*resp.headers, cookie))

    def stamp_ends(self, ends: Any, headers: Mapping[str, str]) -> Any:
        """Stream marks ``(offset, message)`` with each response stamped (streamed mode)."""
        return [
            (off, self.stamp(m, headers) if isinstance(m, HttpResponse) else m) for off, m in ends
        ]

    def counters(self) -> dict[str, float]:
        """``lb.affinity_hits``, ``lb.affinity_misses`` and ``lb.affinity_breaks``."""
        return {
            "lb.affinity_hits": float(self.hits),
            "lb.affinity_misses": float(self.misses),
            "lb.affinity_breaks": float(self.breaks),
        }
