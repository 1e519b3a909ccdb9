"""Figure ``latency_cdf.png``: distribution of successful-request latency per variant.

Theory of operation: for each balancer variant, take the ``ok`` requests issued in
the statistics window, sort their latencies and draw the empirical cumulative
distribution function (the fraction of requests at or below each latency) as a
step line. The x axis is logarithmic in milliseconds, so a median of 20 ms and a
tail of 2 s both stay readable. Markers show the p50 and p99 reported in
``summary.json``. Very large runs are thinned to a few thousand evenly spaced order
statistics, which is invisible at print resolution.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from lbsim.plots.style import new_figure, styled, variant_colors, variant_label

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = ["FILENAME", "latency_cdf"]

FILENAME = "latency_cdf.png"

_MAX_POINTS = 4000
_FLOOR_MS = 1e-3  # latencies are drawn no lower than 1 µs on the log axis


def _ecdf(latencies_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and cumulative fractions, thinned to at most ``_MAX_POINTS``."""
    values = np.sort(np.maximum(latencies_ms, _FLOOR_MS))
    fractions = np.arange(1, values.size + 1) / values.size
    if values.size > _MAX_POINTS:
        keep = np.unique(np.linspace(0, values.size - 1, _MAX_POINTS).astype(int))
        values, fractions = values[keep], fractions[keep]
    return values, fractions


def _plain_log_ticks(ax: Axes) -> None:
    """Label the log axis with plain numbers (1, 2, 5, 10, ...) instead of powers of ten."""
    low, high = ax.get_xlim()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    if decades <= 1:
        subs: tuple[float, ...] = (1.0, 1.2, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    else:
        subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


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
        for name, color in zip(variants, variant_colors(len(variants)), strict=True):
            info = variants[name]
            label = variant_label(name, info["layer"], info["algorithm"])
            window = results.window_requests(name)
            latencies = window.loc[window["outcome"] == "ok", "latency"].to_numpy(float) * 1e3
            if latencies.size == 0:
                ax.plot([], [], color=color, label=f"{label}: no successful requests")
                continue
            x, y = _ecdf(latencies)
            ax.step(x, y, where="post", color=color, label=label)
            p50, p99 = info["latency"]["p50"], info["latency"]["p99"]
            ax.plot([max(p50 * 1e3, _FLOOR_MS)], [0.5], "o", color=color, markersize=6)
            ax.plot([max(p99 * 1e3, _FLOOR_MS)], [0.99], "D", color=color, markersize=5)
        handles, labels = ax.get_legend_handles_labels()
        for marker, text in (("o", "p50"), ("D", "p99")):
            handles.append(Line2D([], [], marker=marker, linestyle="", color="0.35"))
            labels.append(text)
        ax.legend(handles, labels, loc="lower right", title="balancer variant")
        ax.set_xscale("log")
        _plain_log_ticks(ax)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"Latency of successful requests (CDF) — {results.scenario}")
    return figure
