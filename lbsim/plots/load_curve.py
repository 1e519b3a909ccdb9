"""Sweep figure: tail latency and throughput against offered load (the knee).

Theory of operation: two panels share the load axis (a swept parameter such as
the number of closed-loop callers or an open-loop rate). Left: p99 latency on a
logarithmic axis, because past saturation it grows by orders of magnitude while
below it differences of milliseconds matter. Right: throughput (successful
requests per second of the statistics window). Both show the mean over
replications with 95% confidence bands, one line per balancer variant.

When the caller knows how many requests per second one unit of the swept
parameter offers (``offered_per_unit``, e.g. 10 requests/s per caller thinking
100 ms), the right panel also draws the offered load as a grey dashed line, and
both panels get a secondary axis in requests/s: a variant on the dashed line
serves everything offered; one that bends away from it has reached capacity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from lbsim.plots.quantities import parameter_axis
from lbsim.plots.style import new_figure, styled, variants_legend_title
from lbsim.plots.sweep_metric import apply_parameter_axis, draw_metric, plain_log_y

if TYPE_CHECKING:
    from lbsim.sweep.tables import SweepTable

__all__ = ["latency_throughput_vs_load"]


def latency_throughput_vs_load(
    table: SweepTable,
    x: str,
    *,
    latency: str = "latency.p99",
    offered_per_unit: float | None = None,
    offered_label: str = "offered load (requests/s)",
    x_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """Tail latency (log scale) and throughput against the swept load ``x``.

    Args:
        table: The sweep.
        x: Swept key path that sets the load.
        latency: Latency metric of the left panel.
        offered_per_unit: Requests/s offered per unit of ``x``; adds the offered
            load line and a requests/s axis on top.
        offered_label: Label of that top axis.
        x_label: Label of the x axes (default: the path with its unit).
        title: Figure title.

    Returns:
        The figure (not saved).
    """
    prepared = parameter_axis(x, table.axis(x).values)
    with styled():
        figure = new_figure(width=10.0, height=4.6)
        left, right = figure.subplots(1, 2, sharex=True)
        draw_metric(left, table, x, latency)
        draw_metric(right, table, x, "throughput_rps")
        for ax in (left, right):
            apply_parameter_axis(ax, table, x, False)
            if x_label:
                ax.set_xlabel(x_label)
        plain_log_y(left)
        left.set_ylabel(f"{latency.split('.')[-1]} latency (ms, log scale)")
        left.set_title("Tail latency", loc="left")
        right.set_ylabel("throughput (successful requests/s)")
        right.set_title("Throughput", loc="left")
        right.set_ylim(bottom=0)
        if offered_per_unit is not None and not prepared.categorical:
            xs = np.asarray(prepared.positions, dtype=float)
            right.plot(
                xs,
                xs * offered_per_unit,
                color="0.45",
                linestyle="--",
                linewidth=1.2,
                label="offered load (top axis)",
            )
            rate = offered_per_unit
            for ax in (left, right):
                top = ax.secondary_xaxis("top", functions=(lambda u: u * rate, lambda r: r / rate))
                top.set_xlabel(offered_label)
        handles, labels = right.get_legend_handles_labels()
        figure.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=max(len(labels), 1),
            title=variants_legend_title(table.replications),
        )
        figure.suptitle(title or f"Latency and throughput vs {x} — {table.scenario}")
    return figure
