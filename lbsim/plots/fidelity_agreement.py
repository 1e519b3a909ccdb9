"""Sweep figure: request level against segment level on the same load sweep.

Theory of operation: the sweep has two axes, the load (e.g. closed-loop callers)
and ``fidelity`` (``segment``, ``request``). Three panels share the load axis:
mean latency, p99 latency and the balancer's CPU utilisation, each with one line
per balancer variant and level -- solid for segment level, dashed for request
level, same colour per variant -- so where the two levels agree the lines lie on
top of each other, and where they do not the gap is visible at the load it
happens. Throughput is not drawn: in a closed loop it follows latency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from lbsim.plots.style import new_figure, styled, variants_legend_title
from lbsim.plots.sweep_metric import apply_parameter_axis, draw_metric

if TYPE_CHECKING:
    from lbsim.sweep.tables import SweepTable

__all__ = ["fidelity_agreement"]

_PANELS = (
    ("latency.mean", "mean latency (ms)", "Mean latency"),
    ("latency.p99", "p99 latency (ms)", "p99 latency"),
    ("lb.cpu_utilization", "balancer CPU utilisation (%)", "Balancer CPU"),
)


def fidelity_agreement(
    table: SweepTable, x: str, *, x_label: str | None = None, title: str | None = None
) -> Figure:
    """Mean and p99 latency and balancer CPU against load, at both levels.

    Args:
        table: A sweep over ``x`` and ``fidelity``.
        x: Swept key path that sets the load.
        x_label: Label of the x axes (default: the path with its unit).
        title: Figure title.

    Returns:
        The figure (not saved).

    Raises:
        KeyError: If ``x`` or ``fidelity`` was not swept.
    """
    table.axis("fidelity")
    with styled():
        figure = new_figure(width=13.0, height=4.6)
        axes = figure.subplots(1, 3, sharex=True)
        for ax, (metric, ylabel, heading) in zip(axes, _PANELS, strict=True):
            draw_metric(ax, table, x, metric)
            apply_parameter_axis(ax, table, x, False)
            ax.set_ylabel(ylabel)
            ax.set_title(heading, loc="left")
            ax.set_ylim(bottom=0)
        # One x label for the row, under the middle panel: the three panels share
        # the load axis, and three copies of a long label ran past the figure's edge.
        shared = x_label or axes[0].get_xlabel()
        for ax in axes:
            ax.set_xlabel(shared if ax is axes[1] else "")
        handles, labels = axes[0].get_legend_handles_labels()
        figure.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=max(len(labels) // 2, 1),
            title=variants_legend_title(table.replications),
        )
        figure.suptitle(title or f"Request level vs segment level — {table.scenario}")
    return figure
