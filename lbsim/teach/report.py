"""``lbsim trace`` as a function: trace one request, describe it, optionally draw it.

Theory of operation: the command line (the only module that prints) calls
:func:`trace_report` with a validated scenario and the user's choices. It traces the
variant just long enough for the request (:func:`lbsim.teach.trace.trace_variant`
stops soon after the request's connection closed), renders the per-hop layer view
as text and, if asked, saves the ladder diagram. On a scenario with ``topology:``
the text follows the request across every tier instance instead
(:mod:`lbsim.teach.tier_trace`), and the ladder diagram has one lifeline per element
it crossed (:mod:`lbsim.teach.tier_ladder`).
Choices that do not fit the scenario (an unknown variant, a request that never happened) raise
:class:`TraceInputError` with a one-line message the command line shows as a
bad-input error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lbsim.plots.style import save_figure_as
from lbsim.scenario import Scenario
from lbsim.teach.connection import connection_text, tier_connection_text
from lbsim.teach.ladder import ladder_figure
from lbsim.teach.layerview import layer_view
from lbsim.teach.tier_ladder import tier_ladder_figure
from lbsim.teach.tier_trace import tier_trace_text
from lbsim.teach.trace import trace_variant

__all__ = ["TraceInputError", "TraceReport", "trace_report"]


class TraceInputError(ValueError):
    """A variant or request the scenario does not have (one line, for the user)."""


@dataclass(frozen=True)
class TraceReport:
    """What ``lbsim trace`` shows.

    Attributes:
        variant: The variant traced.
        request_id: The request described.
        text: The per-hop layer view as text.
        ladder: Where the ladder diagram was saved, if it was.
    """

    variant: str
    request_id: str
    text: str
    ladder: Path | None


def trace_report(
    scenario: Scenario,
    variant: str | None = None,
    request_id: str | None = None,
    *,
    ladder: str | Path | None = None,
    max_segments: int = 40,
    whole_connection: bool = False,
) -> TraceReport:
    """Trace one request through one variant and describe it hop by hop.

    Args:
        scenario: A validated scenario.
        variant: Balancer variant (default: the scenario's first).
        request_id: Request to follow (default: the first request to finish).
        ladder: Save the ladder diagram here (``.png``, ``.svg`` or ``.pdf``).
        max_segments: Most segments in the ladder diagram.
        whole_connection: Also list every segment of the request's connection, SYN
            to FIN, with the devices' decisions (:mod:`lbsim.teach.connection`).

    Returns:
        The report.

    Raises:
        TraceInputError: On an unknown variant, a request id the scenario cannot
            have, a request that did not finish, or a bad ladder file name.
    """
    names = [b.name for b in scenario.balancers]
    chosen = variant or names[0]
    if chosen not in names:
        raise TraceInputError(
            f"--variant: no balancer variant {chosen!r} (variants: {', '.join(names)})"
        )
    topology = scenario.topology is not None
    if ladder is not None and Path(ladder).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise TraceInputError(f"--ladder: {ladder}: expected a file ending in .png, .svg or .pdf")
    try:
        trace = trace_variant(
            scenario, chosen, request_id=request_id, first_request=request_id is None
        )
    except KeyError as exc:
        raise TraceInputError(f"--request: {exc.args[0]}") from None
    if request_id is None:
        if trace.requests.empty:
            raise TraceInputError("--request: no request finished in this scenario")
        request_id = str(trace.requests.sort_values("t_end")["request_id"].iloc[0])
    if topology:
        try:
            text = tier_trace_text(trace, request_id)
        except KeyError as exc:
            raise TraceInputError(f"--request: {exc.args[0]}") from None
        if whole_connection:
            text += "\n" + tier_connection_text(trace, request_id)
        saved = None
        if ladder is not None:
            figure = tier_ladder_figure(trace, request_id, max_segments=max_segments)
            saved = save_figure_as(figure, Path(ladder))
        return TraceReport(chosen, request_id, text, saved)
    try:
        view = layer_view(trace, request_id)
    except KeyError as exc:
        raise TraceInputError(f"--request: {exc.args[0]}") from None
    saved = None
    if ladder is not None:
        saved = save_figure_as(
            ladder_figure(trace, request_id, max_segments=max_segments), Path(ladder)
        )
    text = view.to_text()
    if whole_connection:
        text += "\n" + connection_text(trace, request_id)
    return TraceReport(chosen, request_id, text, saved)
