"""A small built-in load sweep: the scenario re-run briefly at scaled open-loop rates.

Theory of operation: the ``latency_vs_load`` figure (:mod:`lbsim.plots.offered_load`)
needs latency and completed load at several offered loads, which one run at one rate
cannot give. :func:`load_points` makes a copy of the scenario for each factor of
:data:`FACTORS`, with the rate of every open-loop client group multiplied by it and
the run shortened to :data:`SHORT_DURATION` (warm-up :data:`SHORT_WARMUP`), runs every
variant of each copy with the scenario's own seed (the same random streams at every
load, so differences between points come from the load), and keeps for each variant
the offered and completed requests per second and the p99 latency of its statistics
window. The factors straddle the scenario's rate (a quarter of it to 1.2 times it,
denser just below it), so a scenario whose rate sits just past a balancer's knee
shows the whole curve: flat, then climbing.

Short runs keep ``lbsim run`` quick, and a saturated balancer falls behind by a
backlog that grows over the run, so the latency past the knee depends on the run
length: the figure shows where the knee is and how steep, not a steady state (an
overloaded open system has none). For a careful curve with replications and
confidence bands use ``lbsim sweep``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lbsim.plots.offered_load import LoadPoint, latency_vs_offered_load
from lbsim.plots.style import variant_label
from lbsim.results import build_results
from lbsim.scenario.schema import Scenario
from lbsim.scenario.units import format_duration, format_rate
from lbsim.sim import run_scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FACTORS",
    "SHORT_DURATION",
    "SHORT_WARMUP",
    "latency_vs_load",
    "load_points",
    "offered_rate",
    "scaled",
]

#: Multiples of the scenario's open-loop rates run by the sweep.
FACTORS: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9, 1.0, 1.2)
#: Simulated seconds of each short run, and of its warm-up.
SHORT_DURATION = 1.0
SHORT_WARMUP = 0.25


def offered_rate(scenario: Scenario) -> float:
    """Sessions per second the scenario's open-loop client groups start, together.

    Raises:
        ValueError: If no client group is open-loop (``rate:``), so none can be scaled.
    """
    rates = [client.rate for client in scenario.clients if client.rate is not None]
    if not rates:
        raise ValueError(
            "the latency_vs_load figure scales the rate of open-loop client groups "
            "(clients.*.rate), and this scenario has none"
        )
    return float(sum(rates))


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """A short copy of ``scenario`` whose open-loop rates are multiplied by ``factor``."""
    clients = tuple(
        client if client.rate is None else client.model_copy(update={"rate": client.rate * factor})
        for client in scenario.clients
    )
    duration = min(float(scenario.duration), SHORT_DURATION)
    warmup = min(float(scenario.warmup), SHORT_WARMUP, duration / 4)
    return scenario.model_copy(update={"clients": clients, "duration": duration, "warmup": warmup})


def load_points(
    scenario: Scenario,
    *,
    factors: tuple[float, ...] = FACTORS,
    note: Callable[[str], None] | None = None,
) -> list[LoadPoint]:
    """Run the short scaled copies of ``scenario``; one point per variant and factor.

    Args:
        scenario: A validated scenario with at least one open-loop client group.
        factors: Multiples of its open-loop rates to run.
        note: Called with a short description before each run (progress for a CLI).

    Returns:
        The points, factor by factor, variants in scenario order.

    Raises:
        ValueError: If the scenario has no open-loop client group.
    """
    base = offered_rate(scenario)
    points: list[LoadPoint] = []
    for index, factor in enumerate(factors, start=1):
        copy = scaled(scenario, factor)
        if note is not None:
            note(f"load sweep {index}/{len(factors)}: {format_rate(round(base * factor))} offered")
        summary = build_results(copy, run_scenario(copy)).summary
        for name, row in summary["variants"].items():
            p99, cpu = row["latency"]["p99"], row["lb"]["cpu_utilization"]
            points.append(
                LoadPoint(
                    variant=name,
                    label=variant_label(name, row["layer"], row["algorithm"]),
                    offered_rps=float(row["offered_rps"]),
                    completed_rps=float(row["throughput_rps"]),
                    p99=None if p99 is None else float(p99),
                    cpu_utilization=None if cpu is None else float(cpu),
                )
            )
    return points


def latency_vs_load(
    scenario: Scenario,
    *,
    factors: tuple[float, ...] = FACTORS,
    note: Callable[[str], None] | None = None,
) -> Figure:
    """Figure ``latency_vs_load.png`` of ``scenario``: run the load sweep and draw it.

    Args:
        scenario: A validated scenario with at least one open-loop client group.
        factors: Multiples of its open-loop rates to run.
        note: Called with a short description before each run.

    Returns:
        The figure (not saved); a dotted line marks the scenario's own rate.

    Raises:
        ValueError: If the scenario has no open-loop client group.
    """
    points = load_points(scenario, factors=factors, note=note)
    return latency_vs_offered_load(
        points,
        marked_rps=offered_rate(scenario) * _requests_per_session(scenario),
        marked_label=f"the scenario's rate ({format_rate(offered_rate(scenario))})",
        title=f"Latency and completed load vs offered load — {scenario.name} "
        f"({format_duration(SHORT_DURATION)} run per point)",
    )


def _requests_per_session(scenario: Scenario) -> float:
    """Requests per open-loop arrival, averaged over the groups weighted by rate.

    An HTTP or raw session sends ``requests_per_connection`` requests; a multiplexed
    open-loop group's rate already counts requests.
    """
    groups = [c for c in scenario.clients if c.rate is not None]
    total = sum(c.rate or 0.0 for c in groups)
    per = [1 if c.protocol == "multiplexed" else c.requests_per_connection for c in groups]
    return sum((c.rate or 0.0) * n for c, n in zip(groups, per, strict=True)) / total
