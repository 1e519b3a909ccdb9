"""Running balancer variants with a packet capture attached.

Theory of operation: :func:`capture_variant` wires a
:class:`~lbsim.capture.capture.VariantCapture` into one variant's run as a tap
(:func:`lbsim.sim.build_variant`), hands it the run's clock, runs the variant and
writes the two capture files; :func:`capture_scenario` does so for every variant,
one after the other, like :func:`lbsim.sim.run_scenario`, so at most one
variant's connection table and message marks are in memory at a time. If a run
fails, its spool and capture files are removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim.capture.capture import CaptureFiles, VariantCapture
from lbsim.capture.limits import CaptureLimits, client_addresses

if TYPE_CHECKING:
    from lbsim.scenario import Scenario

__all__ = ["capture_scenario", "capture_variant"]


def capture_variant(
    scenario: Scenario,
    name: str,
    directory: str | Path,
    *,
    limits: CaptureLimits | None = None,
    trace_segments: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[Any, CaptureFiles]:
    """Run one balancer variant and capture its traffic.

    Args:
        scenario: A validated scenario.
        name: Balancer variant to run.
        directory: Directory for ``<name>-client.pcap`` and ``<name>-backend.pcap``
            (created if missing).
        limits: What to keep (everything when ``None``).
        trace_segments: Also record :class:`~lbsim.records.SegmentRecord` values.
        progress: Called with (variant, fraction done) while running.

    Returns:
        The run (a :class:`lbsim.sim.VariantRun`) and the capture files.
    """
    from lbsim.sim import build_variant

    capture = VariantCapture(scenario, name, directory, limits)
    tap = capture.tap
    if getattr(scenario, "topology", None) is not None:
        from lbsim.capture.tier_point import tier_tap

        tap = tier_tap(capture, scenario)  # captured at the variant tier's instances
    build = build_variant(scenario, name, trace_segments=trace_segments, taps=[tap])
    capture.bind(build.env)
    try:
        run = build.run(progress)
        files = capture.finish()
    except BaseException:
        capture.discard()
        for path in capture.files:
            path.unlink(missing_ok=True)
        raise
    finally:
        build.discard()  # the run's objects, freed by reference counting (see VariantBuild)
    return run, files


def capture_scenario(
    scenario: Scenario,
    directory: str | Path,
    *,
    limits: CaptureLimits | None = None,
    variants: Sequence[str] | None = None,
    trace_segments: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[list[Any], dict[str, CaptureFiles]]:
    """Run every balancer variant (or those named) and capture each one.

    The counterpart of :func:`lbsim.sim.run_scenario` with captures: variants run
    one after the other, and each one's files are written before the next starts.

    Args:
        scenario: A validated scenario.
        directory: Directory for the capture files (created if missing).
        limits: What to keep (everything when ``None``).
        variants: Names of the balancers to run (default: all, in file order).
        trace_segments: Also record segment records.
        progress: Called with (variant, fraction done) while running.

    Returns:
        The runs, in scenario order, and each variant's capture files.

    Raises:
        KeyError: If ``variants`` names an unknown balancer.
        ValueError: If the client limit names no client of the scenario.
    """
    from lbsim.sim import variant_names

    names = variant_names(scenario, variants)
    if limits is not None and limits.client is not None:
        client_addresses(scenario, limits.client)  # fail before running anything
    runs = []
    files: dict[str, CaptureFiles] = {}
    for name in names:
        run, files[name] = capture_variant(
            scenario,
            name,
            directory,
            limits=limits,
            trace_segments=trace_segments,
            progress=progress,
        )
        runs.append(run)
    return runs, files
