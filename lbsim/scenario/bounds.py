"""Upper bounds on scenario values, each with the reason given to the user.

Theory of operation:
    The schema's types say what a value *is* (a whole number, a duration); these
    bounds say how large it may sensibly be in a simulation that runs on one
    machine. Without them a typo (``count: 100000000``, ``interval: 1ns``) is
    accepted and the run grinds until memory runs out. Each bound is far above any
    realistic teaching or capacity-planning scenario, and each carries its reason,
    so the message explains the limit instead of just stating it.

    :func:`check_bound` is called from model validators with the key path; the
    whole-run work estimate (``lbsim.budget``) catches what no single value shows
    (many moderate values that multiply into too much work).
"""

from __future__ import annotations

from typing import Final

from lbsim.scenario.errors import KeyedValueError

__all__ = [
    "BOUNDS",
    "MIN_HEALTH_INTERVAL",
    "PARAM_BOUNDS",
    "check_bound",
    "check_param_bounds",
]

BOUNDS: Final[dict[str, tuple[float, str]]] = {
    "users": (
        100_000,
        "each closed-loop user is a simulated process with its own connections; for "
        "larger populations use an open-loop rate",
    ),
    "hosts": (1_000_000, "client addresses come from a /12 address range"),
    "rate": (
        1_000_000,
        "per second: a million sessions a second is beyond what one simulated balancer "
        "is for; scale the scenario down and compare variants",
    ),
    "streams": (1_000, "concurrent streams per connection (HTTP/2 servers allow 100-250)"),
    "connections": (100_000, "long-lived multiplexed connections"),
    "backends": (10_000, "servers in one backend group"),
    "workers": (100_000, "concurrent requests per server"),
    "cores": (1_024, "CPU cores of one balancer"),
    "retries": (100, "attempts per request"),
    "pool_warm": (
        10_000,
        "connections opened to each backend at time 0 (pools of a few hundred are typical)",
    ),
    "pool_max": (1_000_000, "connections to one backend"),
    "replications": (10_000, "runs per grid point; confidence intervals shrink as 1/sqrt(R)"),
    "seed": (2**64 - 1, "seeds are 64-bit"),
    "bandwidth": (
        1e13,
        "bits per second: 10 Tbps is above any single link (400 Gbps Ethernet is the "
        "fastest in use)",
    ),
    "duration": (
        1e7,
        "seconds (about 116 days) of simulated time; statistics settle within minutes",
    ),
}
"""Bound name -> (largest value, reason)."""

MIN_HEALTH_INTERVAL: Final = 1e-3
"""Shortest health-check interval, seconds (HAProxy's default is 2 s)."""

PARAM_BOUNDS: Final[dict[str, tuple[int, str]]] = {
    "vnodes": (
        10_000,
        "points per backend on the hash ring, built in memory (160 is a common default)",
    ),
    "table_size": (
        1_000_003,
        "Maglev lookup-table entries, built in memory (the paper uses 65537)",
    ),
}
"""Algorithm parameter -> (largest value, reason); checked before any table is built."""


def _show(value: float) -> str:
    """A number for a message: whole numbers in full up to 20 digits, else ``1e+42``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int) and len(str(value)) <= 20:
        return str(value)
    return f"{value:.6g}"


def check_bound(key: str | tuple[str | int, ...], bound: str, value: float | None) -> None:
    """Raise :class:`KeyedValueError` at ``key`` if ``value`` exceeds bound ``bound``.

    Args:
        key: Key path below the validating model.
        bound: Name in :data:`BOUNDS`.
        value: The value (None: nothing to check).
    """
    if value is None:
        return
    limit, reason = BOUNDS[bound]
    if value > limit:
        raise KeyedValueError(key, f"must be at most {_show(limit)}, got {_show(value)}: {reason}")


def check_param_bounds(params: tuple[tuple[str, object], ...]) -> None:
    """Check algorithm parameters against :data:`PARAM_BOUNDS` (key ``params.NAME``)."""
    for name, value in params:
        if name in PARAM_BOUNDS and isinstance(value, int | float) and not isinstance(value, bool):
            limit, reason = PARAM_BOUNDS[name]
            if value > limit:
                raise KeyedValueError(
                    ("params", name), f"must be at most {limit}, got {_show(value)}: {reason}"
                )
