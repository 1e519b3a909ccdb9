"""Sweep figure: backend imbalance against a swept parameter, L4 vs L7.

Theory of operation: two panels share the swept parameter on the x axis. The
left one is Jain's fairness index over the per-backend request counts (from the
summary's ``jain_fairness``: 1 = perfectly even, 1/n = one backend takes all).
The right one is the ratio of the largest to the smallest backend share
(``max(backend_share.*) / min(backend_share.*)`` of each run; 1 = even), which
reads more directly as "the busiest backend got k times the work of the
idlest". Both are averaged over replications with 95% confidence bands
(:func:`lbsim.plots.sweep_metric.draw_metric`). A run in which some backend
served nothing has an infinite ratio; it is left out of the right panel's mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from lbsim.plots.style import new_figure, styled, variants_legend_title
from lbsim.plots.sweep_metric import apply_parameter_axis, draw_metric

if TYPE_CHECKING:
    from lbsim.sweep.tables import SweepTable

__all__ = ["MAX_MIN_SHARE", "imbalance_vs_parameter", "with_max_min_share"]

#: Name of the derived metric column holding max share / min share.
MAX_MIN_SHARE = "backend_share.max_over_min"


def with_max_min_share(table: SweepTable) -> SweepTable:
    """``table`` with a :data:`MAX_MIN_SHARE` column computed from ``backend_share.*``."""
    shares = [c for c in table.runs.columns if c.startswith("backend_share.")]
    values = table.runs[shares].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.nanmax(values, axis=1) / np.nanmin(values, axis=1)
    ratio[~np.isfinite(ratio)] = np.nan
    return table.derive(MAX_MIN_SHARE, ratio)


def imbalance_vs_parameter(
    table: SweepTable, x: str, *, x_label: str | None = None, title: str | None = None
) -> Figure:
    """Jain's fairness and max/min backend share against swept path ``x``.

    Args:
        table: The sweep.
        x: Swept key path.
        x_label: Label of the x axes (default: the path with its unit).
        title: Figure title.

    Returns:
        The figure (not saved).
    """
    table = with_max_min_share(table)
    with styled():
        figure = new_figure(width=10.0, height=4.4)
        left, right = figure.subplots(1, 2)
        draw_metric(left, table, x, "jain_fairness")
        draw_metric(right, table, x, MAX_MIN_SHARE)
        for ax in (left, right):
            apply_parameter_axis(ax, table, x, None)
            if x_label:
                ax.set_xlabel(x_label)
        left.set_ylabel("Jain's fairness index (1/n … 1)")
        left.set_title("Fairness (1 = perfectly even)", loc="left")
        right.set_ylabel("busiest / idlest backend share (ratio)")
        right.set_title("Max / min backend share (1 = even)", loc="left")
        right.set_ylim(bottom=min(0.9, right.get_ylim()[0]))
        handles, labels = left.get_legend_handles_labels()
        figure.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=max(len(labels), 1),
            title=variants_legend_title(table.replications),
        )
        figure.suptitle(title or f"Backend imbalance vs {x} — {table.scenario}")
    return figure
