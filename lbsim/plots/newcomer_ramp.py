"""Figure ``newcomer_ramp.png``: a backend added mid-run, its share and latency over time.

Theory of operation: the *newcomers* are the backends whose first served request
comes after the first ``add_backend`` event. Requests are binned by the time they
were issued; the top panel draws, per variant, the share of each bin's served
requests that the newcomers served, beside their fair share ``k/n`` (dotted); the
bottom panel draws the median latency of the ``ok`` requests the newcomers served
(solid) and of those the old backends served (thin), on a log scale. Under a
least-request balancer without slow start the newcomer, having nothing in flight,
is handed requests at once: its share jumps and, if it starts cold
(``warmup_penalty``), its latency spikes. With ``slow_start_window`` its weight
ramps up over the window, so its share rises gradually and latency stays close
to the old backends'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from lbsim.plots.share_over_time import all_backends
from lbsim.plots.style import (
    label_log_axis,
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

__all__ = ["newcomer_ramp", "newcomer_series", "newcomers"]


def newcomers(results: Results) -> list[str]:
    """Backends that completed no request before the first scale out (in any variant)."""
    added = [t for t, action in scheduled_events(results) if action == "add_backend"]
    if not added:
        return []
    served = results.requests[results.requests["backend"].notna()]
    first = served.groupby("backend")["t_end"].min()
    return [str(b) for b, t in first.items() if t >= added[0]]


def newcomer_series(
    rows: pd.DataFrame, new: list[str], bin_seconds: float, end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: start times, newcomers' share, their median latency, the others' median.

    Bins without served requests (or without ``ok`` ones for a latency) are NaN.
    """
    edges = np.arange(0.0, end + 1e-9, bin_seconds)
    starts = edges[:-1]
    served = rows[rows["backend"].notna()]
    t = served["t_start"].to_numpy(float)
    is_new = served["backend"].isin(new).to_numpy(bool)
    ok = (served["outcome"] == "ok").to_numpy(bool)
    latency = (served["t_end"] - served["t_start"]).to_numpy(float)
    index = np.digitize(t, edges) - 1
    share = np.full(len(starts), np.nan)
    new_p50 = np.full(len(starts), np.nan)
    old_p50 = np.full(len(starts), np.nan)
    for k in range(len(starts)):
        here = index == k
        if here.any():
            share[k] = is_new[here].mean()
        if (here & ok & is_new).any():
            new_p50[k] = np.median(latency[here & ok & is_new])
        if (here & ok & ~is_new).any():
            old_p50[k] = np.median(latency[here & ok & ~is_new])
    return starts, share, new_p50, old_p50


def newcomer_ramp(results: Results, bin_seconds: float = 1.0) -> Figure:
    """Draw the newcomers' share of requests and their latency over time, per variant.

    Args:
        results: Results of one scenario run with an ``add_backend`` event.
        bin_seconds: Time bin width in simulated seconds.

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure`).
    """
    variants = results.summary["variants"]
    new = newcomers(results)
    n = len(all_backends(results))
    colors = variant_colors(max(len(variants), 1))
    with styled():
        figure = new_figure(height=6.4)
        top, bottom = figure.subplots(2, 1, sharex=True)
        for color, name in zip(colors, variants, strict=False):
            info = variants[name]
            label = variant_label(name, info["layer"], info["algorithm"])
            rows = results.requests[results.requests["variant"] == name]
            starts, share, new_p50, old_p50 = newcomer_series(
                rows, new, bin_seconds, results.duration
            )
            x = starts + bin_seconds / 2
            top.plot(x, share, color=color, linewidth=2.0, marker="o", markersize=3, label=label)
            bottom.plot(x, new_p50 * 1000, color=color, linewidth=2.0, label=f"{label}: new")
            bottom.plot(
                x, old_p50 * 1000, color=color, linewidth=0.9, alpha=0.7, label=f"{label}: others"
            )
        if new and n:
            top.axhline(len(new) / n, color="0.4", linestyle=":", linewidth=1.2)
            top.annotate(
                f"fair share {len(new)}/{n}",
                (results.duration, len(new) / n),
                xytext=(-4, -4),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize="small",
                color="0.3",
            )
        for ax in (top, bottom):
            shade_warmup(ax, results.warmup)
            ax.set_xlim(0.0, results.duration)
        mark_events([top, bottom], scheduled_events(results))
        who = ", ".join(new) if new else "none added"
        top.set_ylabel(f"share of requests\nserved by {who}")
        top.set_ylim(0.0, None)
        top.legend(loc="upper left", fontsize="small")
        bottom.set_yscale("log")
        label_log_axis(bottom.yaxis)
        bottom.set_ylabel("median latency (ms)")
        bottom.set_xlabel("simulated time (s)")
        bottom.legend(loc="upper left", fontsize="small", ncols=2)
        figure.suptitle(
            f"A backend added mid-run: its share and latency ({bin_seconds:g} s bins) — "
            f"{results.scenario}"
        )
    return figure
