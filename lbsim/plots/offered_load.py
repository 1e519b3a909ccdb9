"""Figure ``latency_vs_load.png``: latency and completed load against offered load.

Theory of operation: a balancer that keeps up completes what it is offered and
its latency stays flat; one whose CPU saturates (an L7 balancer terminating TLS
on one core, concept C20) falls off the line of offered load and its latency
climbs by orders of magnitude. One run at one rate shows a single point of that
curve, so the points come from a few short runs of the scenario at scaled
open-loop rates (:mod:`lbsim.report.load_sweep` runs them); this module only
draws them, as :class:`LoadPoint` records, so it stays free of the engine.

Two panels share the offered-load axis, one line per variant (own colour, line
style and marker, so coinciding lines stay apart). Left: p99 latency (solid
markers) on a logarithmic axis whose ends are labelled, since past the knee it
grows a hundredfold while below it milliseconds matter. Right: completed requests
per second against offered, with the diagonal "completes everything offered" in
grey. A dotted vertical line marks the rate of the scenario's own run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lbsim.plots.style import label_log_axis, line_styles, new_figure, styled, variant_colors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LoadPoint", "latency_vs_offered_load"]


@dataclass(frozen=True)
class LoadPoint:
    """One variant's outcome in one short run at one offered load.

    Attributes:
        variant: Balancer variant name.
        label: Legend text for the variant (``l7 (L7, least_request)``).
        offered_rps: Requests per second offered in the statistics window.
        completed_rps: Successful requests per second completed in it.
        p99: 99th percentile latency of successful requests, seconds (None when none
            succeeded).
        cpu_utilization: Busy fraction of the balancer's CPU, all cores (None when
            the balancer models no CPU).
    """

    variant: str
    label: str
    offered_rps: float
    completed_rps: float
    p99: float | None
    cpu_utilization: float | None = None


def latency_vs_offered_load(
    points: Sequence[LoadPoint],
    *,
    marked_rps: float | None = None,
    marked_label: str = "this scenario's run",
    title: str = "Latency and completed load vs offered load",
) -> Figure:
    """p99 latency (log scale) and completed load against offered load, per variant.

    Args:
        points: The measured points, any order; one line per distinct variant, in
            the order variants first appear.
        marked_rps: Offered load of the scenario's own run, marked by a dotted line.
        marked_label: Legend text of that line.
        title: Figure title.

    Returns:
        The figure (not saved).

    Raises:
        ValueError: If there are no points.
    """
    if not points:
        raise ValueError("no load points to draw")
    variants = list(dict.fromkeys(p.variant for p in points))
    labels = {p.variant: p.label for p in points}
    colours = dict(zip(variants, variant_colors(len(variants)), strict=True))
    styles = dict(zip(variants, line_styles(len(variants)), strict=True))
    with styled():
        figure = new_figure(width=10.0, height=4.8)
        left, right = figure.subplots(1, 2, sharex=True)
        top = max(max(p.offered_rps, p.completed_rps) for p in points)
        right.plot(
            [0.0, top * 1.05],
            [0.0, top * 1.05],
            color="0.55",
            linestyle="--",
            linewidth=1.2,
            label="completes everything offered",
        )
        for variant in variants:
            mine = sorted((p for p in points if p.variant == variant), key=lambda p: p.offered_rps)
            style, marker = styles[variant]
            common = {
                "color": colours[variant],
                "linestyle": style,
                "marker": marker,
                "linewidth": 2.0,
                "markersize": 6,
            }
            timed = [p for p in mine if p.p99 is not None]
            left.plot(
                [p.offered_rps for p in timed],
                [(p.p99 or 0.0) * 1e3 for p in timed],
                label=labels[variant],
                **common,
            )
            right.plot([p.offered_rps for p in mine], [p.completed_rps for p in mine], **common)
        if marked_rps is not None:
            for ax in (left, right):
                ax.axvline(marked_rps, color="0.3", linestyle=":", linewidth=1.2)
            right.plot([], [], color="0.3", linestyle=":", linewidth=1.2, label=marked_label)
        left.set_yscale("log")
        label_log_axis(left.yaxis)
        left.set_ylabel("p99 latency (ms, log scale)")
        left.set_title("Tail latency", loc="left")
        right.set_ylabel("completed (successful requests/s)")
        right.set_title("Completed vs offered load", loc="left")
        right.set_ylim(bottom=0.0)
        for ax in (left, right):
            ax.set_xlabel("offered load (requests/s)")
            ax.set_xlim(left=0.0)
        handles, texts = left.get_legend_handles_labels()
        more, more_texts = right.get_legend_handles_labels()
        figure.legend(
            [*handles, *more],
            [*texts, *more_texts],
            loc="outside lower center",
            ncols=2,
            title="balancer variant (one short run per offered load)",
        )
        figure.suptitle(title)
    return figure
