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
    """

    __slots__ = ("active", "group", "ip", "link", "name", "weight")

    def __init__(self, name: str, group: str, ip: int, weight: float, link: Link) -> None:
        self.name = name
        self.group = group
        self.ip = ip
        self.weight = weight
        self.active = 0
        self.link = link

    def __repr__(self) -> str:
        return f"BackendRef({self.name}, active={self.active})"
