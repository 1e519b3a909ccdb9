"""The balancer's view of its backends.

Theory of operation: a balancer knows each backend only as an address, a weight
and how much work it has placed there (``active``: live connections for L4,
in-flight requests for L7). Algorithms read these through the
:class:`~lbsim.lb.algorithms.BackendView` protocol; only the balancer writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbsim.net.link import Link


class BackendRef:
    """One backend as a balancer sees it.

    Attributes:
        name: Instance name, e.g. ``"web-1"``.
        group: Group name.
        ip: Address.
        weight: Balancing weight.
        active: Connections (L4) or requests (L7) currently placed on it.
        link: The balancer's link towards it.
        mss: MSS of the path to it (its link's MTU less the headers).
        healthy: As the balancer's health checks last concluded.
        draining: Taken out of rotation (scale in): no new connections or requests.
        ejected_until: Outlier detection has ejected it until then (L7).
        ejections: Times outlier detection ejected it.
    """

    __slots__ = (
        "active",
        "draining",
        "ejected_until",
        "ejections",
        "group",
        "healthy",
        "ip",
        "link",
        "mss",
        "name",
        "weight",
    )

    def __init__(
        self, name: str, group: str, ip: int, weight: float, link: Link, mss: int = 1460
    ) -> None:
        self.name = name
        self.group = group
        self.ip = ip
        self.weight = weight
        self.active = 0
        self.link = link
        self.mss = mss
        self.healthy = True
        self.draining = False
        self.ejected_until = 0.0
        self.ejections = 0

    def usable(self, now: float) -> bool:
        """Whether new work may be placed on it now."""
        return self.healthy and not self.draining and self.ejected_until <= now

    def __repr__(self) -> str:
        return f"BackendRef({self.name}, active={self.active})"


def usable(
    backends: list[BackendRef], now: float, panic_threshold: float | None = None
) -> list[BackendRef]:
    """The backends new work may go to.

    Those healthy, not draining and not ejected; but if that leaves fewer than
    ``panic_threshold`` of the non-draining ones, all of them (panic mode: better
    to try a backend believed down than to refuse everything).
    """
    ok = [b for b in backends if b.usable(now)]
    if len(ok) == len(backends) or panic_threshold is None:
        return ok
    candidates = [b for b in backends if not b.draining]
    if candidates and len(ok) < panic_threshold * len(candidates):
        return candidates
    return ok
