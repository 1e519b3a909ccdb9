"""Figure ``latency_cdf.png``: distribution of successful-request latency per variant.

Theory of operation: for each balancer variant, take the ``ok`` requests issued in
the statistics window, sort their latencies and draw the empirical cumulative
distribution function (the fraction of requests at or below each latency) as a
step line. The x axis is logarithmic in milliseconds, so a median of 20 ms and a
tail of 2 s both stay readable. Markers show the p50 and p99 reported in
``summary.json``. Each variant also has its own line style and a few markers
along its line (at staggered positions), so a curve lying exactly on another one
still shows. Very large runs are thinned to a few thousand evenly spaced order
statistics, which is invisible at print resolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lbsim.plots.style import (
    label_log_axis,
    line_styles,
    new_figure,
    styled,
    variant_colors,
    variant_label,
)

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = ["FILENAME", "ecdf", "latency_cdf"]

FILENAME = "latency_cdf.png"

_MAX_POINTS = 4000
_FLOOR_MS = 1e-3  # latencies are drawn no lower than 1 µs on the log axis


def ecdf(latencies_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and cumulative fractions, thinned to at most ``_MAX_POINTS``."""
    values = np.sort(np.maximum(latencies_ms, _FLOOR_MS))
    fractions = np.arange(1, values.size + 1) / values.size
    if values.size > _MAX_POINTS:
        keep = np.unique(np.linspace(0, values.size - 1, _MAX_POINTS).astype(int))
        values, fractions = values[keep], fractions[keep]
    return values, fractions


def latency_cdf(results: Results) -> Figure:
    """Draw the latency CDF of successful requests, one line per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure`).
    """
    variants = results.summary["variants"]
    with styled():
        figure = new_figure()
        ax = figure.add_subplot()
        looks = line_styles(len(variants))
        for index, (name, color) in enumerate(
            zip(variants, variant_colors(len(variants)), strict=True)
        ):
            linestyle, marker = looks[index]
            info = variants[name]
            label = variant_label(name, info["layer"], info["algorithm"])
            window = results.window_requests(name)
            latencies = window.loc[window["outcome"] == "ok", "latency"].to_numpy(float) * 1e3
            if latencies.size == 0:
                ax.plot(
                    [],
                    [],
                    color=color,
                    linestyle=linestyle,
                    label=f"{label}: no successful requests",
                )
                continue
            x, y = ecdf(latencies)
            # About eight markers per line, staggered so coinciding lines show each.
            spots = np.searchsorted(y, (np.arange(8) + 0.25 + 0.5 * index / len(variants)) / 8.2)
            ax.step(
                x,
                y,
                where="post",
                color=color,
                linestyle=linestyle,
                marker=marker,
                markevery=sorted({int(i) for i in np.minimum(spots, x.size - 1)}),
                markersize=5,
                markerfacecolor="white",
                label=label,
            )
            p50, p99 = info["latency"]["p50"], info["latency"]["p99"]
            ax.plot([max(p50 * 1e3, _FLOOR_MS)], [0.5], "|", color=color, markersize=14, mew=2)
            ax.plot([max(p99 * 1e3, _FLOOR_MS)], [0.99], "|", color=color, markersize=14, mew=2)
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], marker="|", linestyle="", color="0.35", markersize=10, mew=2))
        labels.append("p50 (at 0.5) and p99 (at 0.99)")
        ax.legend(handles, labels, loc="lower right", title="balancer variant")
        ax.set_xscale("log")
        label_log_axis(ax.xaxis)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"Latency of successful requests (CDF) — {results.scenario}")
    return figure
