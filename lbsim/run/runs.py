"""Running a scenario: one fresh build per balancer variant, same workload.

Theory of operation: every entry of ``balancers`` is a variant. Each is built
from scratch (:class:`~lbsim.run.variant.VariantBuild`) on the same scenario,
so clients and backends are identical across variants and all their randomness
comes from streams keyed by the seed and their names: variants differ only by
the balancer (common random numbers). :func:`check_buildable` finds the problems
only building can find (an algorithm's parameters) before anything runs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lbsim.lb.base import build_algorithm
from lbsim.run.fidelity import check_request_level
from lbsim.run.links import Tap
from lbsim.run.tiers import TieredBuild, check_topology_runnable
from lbsim.run.variant import Progress, VariantBuild, VariantRun
from lbsim.scenario import Scenario


def check_buildable(scenario: Scenario) -> None:
    """Check what only building a run can check (algorithm parameters, topology).

    Raises:
        ScenarioError: On the first problem; its file is ``<scenario>``.
    """
    for balancer in scenario.balancers:
        build_algorithm(balancer, balancer.layer, random.Random(0))
    check_topology_runnable(scenario)
    check_request_level(scenario)


def build_variant(
    scenario: Scenario,
    name: str,
    *,
    trace_segments: bool = False,
    taps: Sequence[Tap] = (),
) -> VariantBuild:
    """Wire (but do not run) one variant; for tests and notebooks that inspect objects.

    Args:
        scenario: A validated scenario.
        name: Balancer variant to build.
        trace_segments: Record every segment on every link as a ``SegmentRecord``.
        taps: Extra observers of every segment on every link (e.g. a packet
            capture); they see the live :class:`~lbsim.net.segment.Segment`
            values, message marks included.

    Raises:
        KeyError: If no balancer is called ``name``.
    """
    for balancer in scenario.balancers:
        if balancer.name == name:
            kind = VariantBuild if scenario.topology is None else TieredBuild
            return kind(scenario, balancer, trace_segments, taps)
    raise KeyError(f"no balancer named {name!r}")


def run_variant(
    scenario: Scenario,
    name: str,
    *,
    trace_segments: bool = False,
    progress: Progress | None = None,
    taps: Sequence[Tap] = (),
) -> VariantRun:
    """Run one balancer variant of ``scenario`` (see :func:`build_variant`).

    Its objects are taken apart once its results are out (see
    :meth:`~lbsim.run.variant.VariantBuild.discard`): use :func:`build_variant`
    to look inside a run afterwards.
    """
    build = build_variant(scenario, name, trace_segments=trace_segments, taps=taps)
    try:
        return build.run(progress)
    finally:
        build.discard()


def variant_names(scenario: Scenario, variants: Sequence[str] | None = None) -> list[str]:
    """The balancers to run: those named in ``variants`` (default all), in scenario order.

    Raises:
        KeyError: If ``variants`` names an unknown balancer.
    """
    names = [b.name for b in scenario.balancers]
    if variants is None:
        return names
    unknown = [v for v in variants if v not in names]
    if unknown:
        raise KeyError(f"no balancer named {unknown[0]!r} (known: {', '.join(names)})")
    return [n for n in names if n in variants]


def run_scenario(
    scenario: Scenario,
    *,
    trace_segments: bool = False,
    variants: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[VariantRun]:
    """Run every balancer variant (or those named in ``variants``) on the same workload.

    Args:
        scenario: A validated scenario.
        trace_segments: Record every segment on every link.
        variants: Names of the balancers to run (default: all, in file order).
        progress: Called with (variant, fraction done) while running.

    Returns:
        One :class:`VariantRun` per variant, in scenario order.

    Raises:
        KeyError: If ``variants`` names an unknown balancer.
    """
    return [
        run_variant(scenario, n, trace_segments=trace_segments, progress=progress)
        for n in variant_names(scenario, variants)
    ]
