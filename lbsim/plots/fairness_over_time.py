"""Figure ``fairness_over_time.png``: Jain's fairness of backend load over time, per variant.

Theory of operation: requests are counted per backend in time windows (by the time
they were issued) and Jain's index (Σx)²/(n·Σx²) of those counts is drawn for
each window (thin steps) and for everything since the warm-up ended (thick line).
With a few long-lived multiplexed connections behind a layer-4 balancer the
windowed index stays low (one backend carries the busy connection), and without
connection cycling the cumulative one stays low too. With a connection age limit
the busy connection is re-placed every age, the window value jumps around, but
the cumulative index climbs towards 1 as each backend takes its turn: cycling
fixes L4 imbalance *over time*, while layer 7 balances every window. 1/n (one
backend takes everything) is drawn as a floor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from lbsim import metrics
from lbsim.plots.share_over_time import all_backends, nice_bin_seconds
from lbsim.plots.style import (
    mark_events,
    new_figure,
    scheduled_events,
    shade_warmup,
    styled,
    variant_colors,
    variant_label,
)

if TYPE_CHECKING:
    import pandas as pd

    from lbsim.results import Results

__all__ = ["cumulative_fairness", "fairness_over_time", "window_fairness"]


def window_fairness(
    rows: pd.DataFrame, backends: list[str], bin_seconds: float, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """Jain's index of the per-backend request counts in each window.

    Returns:
        (window start times, index per window; NaN where no request was served).
    """
    shares = metrics.backend_share_over_time(rows, backends, bin_seconds, start=0.0, end=end)
    values = [
        np.nan if np.isnan(row).any() else (metrics.jain_fairness(row) or np.nan)
        for row in shares.to_numpy(float)
    ]
    return shares.index.to_numpy(float), np.asarray(values, dtype=float)


def cumulative_fairness(
    rows: pd.DataFrame, backends: list[str], times: np.ndarray, since: float
) -> np.ndarray:
    """Jain's index of the requests issued in ``[since, t)`` for each ``t`` in ``times``."""
    served = rows[rows["backend"].notna() & (rows["t_start"] >= since)]
    order = served.sort_values("t_start", kind="stable")
    starts = order["t_start"].to_numpy(float)
    names = order["backend"].to_numpy(object)
    known = list(backends) + sorted(set(names) - set(backends))
    index = {name: k for k, name in enumerate(known)}
    counts = np.zeros((len(starts) + 1, len(known)))
    for k, name in enumerate(names):
        counts[k + 1] = counts[k]
        counts[k + 1, index[name]] += 1
    out = np.full(len(times), np.nan)
    for k, t in enumerate(times):
        if t <= since:
            continue
        n = int(np.searchsorted(starts, t, side="left"))
        out[k] = metrics.jain_fairness(counts[n]) or np.nan
    return out


def fairness_over_time(results: Results, bin_seconds: float | None = None) -> Figure:
    """Draw windowed and cumulative Jain fairness of backend request counts, per variant.

    Args:
        results: Results of one scenario run.
        bin_seconds: Window width in simulated seconds; by default about 30 windows.

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure`).
    """
    variants = results.summary["variants"]
    width = bin_seconds or nice_bin_seconds(results.duration, 30)
    backends = all_backends(results)
    colors = variant_colors(max(len(variants), 1))
    times = np.linspace(0.0, results.duration, 241)
    with styled():
        figure = new_figure()
        ax = figure.subplots()
        for color, name in zip(colors, variants, strict=False):
            info = variants[name]
            rows = results.requests[results.requests["variant"] == name]
            label = variant_label(name, info["layer"], info["algorithm"])
            starts, windowed = window_fairness(rows, backends, width, results.duration)
            ax.step(
                np.append(starts, results.duration),
                np.append(windowed, windowed[-1:]),
                where="post",
                color=color,
                linewidth=0.9,
                alpha=0.55,
                label=f"{label}: each {width:g} s window",
            )
            ax.plot(
                times,
                cumulative_fairness(rows, backends, times, results.warmup),
                color=color,
                linewidth=2.4,
                label=f"{label}: since warm-up (cumulative)",
            )
        if backends:
            ax.axhline(1.0 / len(backends), color="0.4", linestyle=":", linewidth=1.0)
            ax.annotate(
                f"1/n = {1.0 / len(backends):.2f}: one backend takes all",
                (results.duration, 1.0 / len(backends)),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize="small",
                color="0.3",
            )
        shade_warmup(ax, results.warmup)
        mark_events([ax], scheduled_events(results))
        ax.set_xlim(0.0, results.duration)
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("Jain fairness of requests per backend (1 = even)")
        figure.legend(loc="outside lower center", ncols=2, fontsize="small")
        figure.suptitle(f"Balance of backend load over time — {results.scenario}")
    return figure
