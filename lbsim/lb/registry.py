"""The balancer kinds, keyed by (layer, mode), and how one is made.

Theory of operation: a scenario's balancer entry names its layer and, at layer
4, its forwarding mode. :data:`BALANCERS` maps that pair to a factory that takes
the balancer's :class:`~lbsim.lb.base.Wiring` (its place in the topology) and
returns a :class:`~lbsim.lb.base.Balancer`. The builder of a run calls
:func:`make_balancer` and from then on talks to the balancer only through that
interface. Adding a kind means one module with a ``from_wiring`` factory and one
line here.
"""

from __future__ import annotations

from collections.abc import Callable

from lbsim.lb.base import Balancer, Wiring
from lbsim.lb.l4 import L4Balancer
from lbsim.lb.l4proxy import L4Proxy
from lbsim.lb.l7 import L7Balancer

#: A factory: the wiring in, the balancer out.
BalancerFactory = Callable[[Wiring], Balancer]

#: Every balancer kind: ``(layer, mode) -> factory`` (layer 7 has no mode).
BALANCERS: dict[tuple[int, str | None], BalancerFactory] = {
    (4, "nat"): L4Balancer.from_wiring,
    (4, "dsr"): L4Balancer.from_wiring,
    (4, "proxy"): L4Proxy.from_wiring,
    (7, None): L7Balancer.from_wiring,
}


def balancer_kinds() -> list[tuple[int, str | None]]:
    """The known (layer, mode) pairs, in registry order."""
    return list(BALANCERS)


def make_balancer(wiring: Wiring) -> Balancer:
    """The balancer ``wiring.config`` describes, wired as ``wiring`` says.

    Raises:
        KeyError: If no kind is registered for its layer and mode.
    """
    cfg = wiring.config
    key = (cfg.layer, cfg.mode)
    try:
        factory = BALANCERS[key]
    except KeyError:
        raise KeyError(f"no balancer kind for layer {cfg.layer}, mode {cfg.mode!r}") from None
    return factory(wiring)
